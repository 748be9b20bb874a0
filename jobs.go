// Command jobs is the job orchestration service: an HTTP API to start, watch and cancel
// function jobs, and the workers that run them.
//
//	jobs [-f etc/jobs.yaml] [-role api|worker|all]                 serve
//	jobs token -tenant t1 [-actor alice] [-ttl 24h] [-f etc/jobs.yaml]   print an access token
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/app"
	"jobs/internal/auth"
	"jobs/internal/config"
	"jobs/internal/web"
)

var (
	configFile = flag.String("f", "etc/jobs.yaml", "the config file")
	role       = flag.String("role", "", "what this process runs: api, worker or all (default: Role in the config)")
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		os.Exit(tokenCommand(os.Args[2:]))
	}
	flag.Parse()

	var c config.Config
	if err := config.Load(*configFile, &c); err != nil {
		fmt.Fprintf(os.Stderr, "jobs: %v\n", err)
		os.Exit(2)
	}
	if *role != "" {
		c.Role = *role
	}
	if c.Role != "api" && c.Role != "worker" && c.Role != "all" {
		fmt.Fprintf(os.Stderr, "jobs: -role must be api, worker or all, not %q\n", c.Role)
		os.Exit(2)
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
		fmt.Fprintf(os.Stderr, "jobs: %v\n", err)
		os.Exit(1)
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "jobs: %v\n", err)
		os.Exit(1)
	}
}

// tokenCommand prints an access token signed with the config's Auth.AccessSecret.
func tokenCommand(args []string) int {
	fs := flag.NewFlagSet("jobs token", flag.ContinueOnError)
	file := fs.String("f", "etc/jobs.yaml", "the config file whose Auth.AccessSecret signs the token")
	tenant := fs.String("tenant", "", "the tenant whose jobs the token gives access to (required)")
	actor := fs.String("actor", "", "who the token's holder is; jobs they start default to this actor")
	ttl := fs.Duration("ttl", 0, "how long the token is valid (default: Auth.AccessExpire seconds)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *tenant == "" {
		fmt.Fprintln(os.Stderr, "jobs token: -tenant is required")
		fs.Usage()
		return 2
	}
	var c config.Config
	if err := config.Load(*file, &c); err != nil {
		fmt.Fprintf(os.Stderr, "jobs token: %v\n", err)
		return 1
	}
	if *ttl == 0 {
		*ttl = time.Duration(c.Auth.AccessExpire) * time.Second
	}
	token, err := auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: *tenant, Actor: *actor}, *ttl)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jobs token: %v\n", err)
		return 1
	}
	fmt.Println(token)
	return 0
}
