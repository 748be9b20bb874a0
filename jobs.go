// Command jobs is the job orchestration service (an HTTP API to start, watch and cancel
// function jobs, and the workers that run them) and its command line client. `jobs -h`
// lists the subcommands; internal/cli implements them.
//
//	jobs [serve] [-f etc/jobs.yaml] [-role api|worker|all]   serve
//	jobs token -tenant t1 [-actor alice]                        print an access token
//	jobs start|list|get|watch|cancel|functions ...              talk to a running service
package main

import (
	"os"

	"jobs/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}))
}
