// Command jobs is the job orchestration service: an HTTP API to start, watch and cancel
// function jobs, and the workers that run them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/app"
	"jobs/internal/config"
)

var (
	configFile = flag.String("f", "etc/jobs.yaml", "the config file")
	role       = flag.String("role", "", "what this process runs: api, worker or all (default: Role in the config)")
)

func main() {
	flag.Parse()

	var c config.Config
	conf.MustLoad(*configFile, &c)
	if *role != "" {
		c.Role = *role
	}
	if c.Role != "api" && c.Role != "worker" && c.Role != "all" {
		fmt.Fprintf(os.Stderr, "jobs: -role must be api, worker or all, not %q\n", c.Role)
		os.Exit(2)
	}
	c.MustSetUp()

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
