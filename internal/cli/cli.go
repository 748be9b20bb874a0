// Package cli is the jobs command line: serving (the API, the workers or both) and minting
// tokens.
package cli

import (
	"fmt"
	"io"
	"strings"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Env is what a command gets from the process: arguments aside, its standard streams and
// environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// command is a subcommand: run gets the arguments after its name.
type command struct {
	name, args, summary string
	run                 func(env Env, args []string) int
}

// commands are listed by `jobs -h` in this order.
var commands = []command{
	{"serve", "[-f etc/jobs.yaml] [-role api|worker|all]", "run the service (the default command)", serve},
	{"token", "-tenant T [-actor A] [-ttl 24h] [-f etc/jobs.yaml]", "print an access token signed with the config's secret", token},
}

// Main runs the command line args (without the program name) and returns the exit status.
// Without a subcommand, or with flags only, it serves, as the binary always has.
func Main(args []string, env Env) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return serve(env, args)
	}
	if isHelp(args[0]) || args[0] == "help" {
		usage(env.Stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "jobs: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return exitUsage
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "jobs runs the job orchestration service.")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  jobs %-9s %s", c.name, c.args), " "))
		fmt.Fprintf(w, "        %s\n", c.summary)
	}
	fmt.Fprint(w, `
"jobs COMMAND -h" lists a command's options.
`)
}
