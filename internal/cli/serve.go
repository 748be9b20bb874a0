package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/app"
	"jobs/internal/config"
	"jobs/internal/web"
)

// serve runs the service on a config file: the API, the workers, or both (-role).
func serve(env Env, args []string) int {
	fs := flag.NewFlagSet("jobs serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	configFile := fs.String("f", "etc/jobs.yaml", "the config file")
	role := fs.String("role", "", "what this process runs: api, worker or all (default: Role in the config)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "jobs serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}

	var c config.Config
	if err := config.Load(*configFile, &c); err != nil {
		fmt.Fprintf(env.Stderr, "jobs: %v\n", err)
		return exitUsage
	}
	if *role != "" {
		c.Role = *role
	}
	if c.Role != "api" && c.Role != "worker" && c.Role != "all" {
		fmt.Fprintf(env.Stderr, "jobs: -role must be api, worker or all, not %q\n", c.Role)
		return exitUsage
	}
	if err := c.Check(); err != nil {
		fmt.Fprintf(env.Stderr, "jobs: %s: %v\n", *configFile, err)
		return exitUsage
	}
	c.MustSetUp()
	if w := logx.Reset(); w != nil {
		logx.SetWriter(web.RedactTokens(w))
	}
	for _, warning := range c.DevSecretWarnings() {
		logx.Alert("warning: " + warning)
	}

	ctx := context.Background()
	a, err := app.New(ctx, c)
	if err != nil {
		fmt.Fprintf(env.Stderr, "jobs: %v\n", err)
		if errors.As(err, new(*config.Invalid)) {
			return exitUsage
		}
		return exitError
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "jobs: %v\n", err)
		return exitError
	}
	return exitOK
}

// parseFlags parses args into fs. It reports false with the exit status when the command
// must not go on: 0 after -h (the usage is printed), 2 after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	switch err := fs.Parse(args); {
	case err == flag.ErrHelp:
		return exitOK, false
	case err != nil:
		return exitUsage, false
	}
	return exitOK, true
}
