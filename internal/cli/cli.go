// Package cli is the jobs command line: serving (the API, the workers or both), minting
// tokens, and the subcommands that start, list, read, watch and cancel jobs through the
// Go client (jobs/client).
package cli

import (
	"fmt"
	"io"
	"strings"
)

// Exit statuses. A job's own outcome has statuses of its own, so that a script can tell
// "the job failed" from "jobs could not ask".
const (
	exitOK        = 0
	exitError     = 1 // the service said no (its message is printed), or could not be reached
	exitUsage     = 2
	exitFailed    = 3 // jobs watch: the job failed
	exitCancelled = 4 // jobs watch: the job was cancelled
	// exitInterrupted is what shells report for a command a SIGINT ended (128+2): Ctrl-C or
	// SIGTERM stopped a command that was waiting on the service.
	exitInterrupted = 130
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

// commands are listed by `jobs -h` in this order. They are set in init because the client
// commands look their own entry up (for their usage line), which a variable's initializer
// may not lead back to.
var commands []command

func init() {
	commands = []command{
		{"serve", "[-f etc/jobs.yaml] [-role api|worker|all]", "run the service (the default command)", serve},
		{"token", "-tenant T [-actor A] [-admin] [-ttl 24h] [-f etc/jobs.yaml]", "print an access token signed with the config's secret", token},
		{"start", "FUNCTION ['PARAMS_JSON'|-] [options]", "start a job and print it", start},
		{"list", "[filters]", "list jobs, newest first", list},
		{"get", "ID", "print a job with its result", get},
		{"watch", "ID", "follow a job until it ends (exit 0 if it completed)", watch},
		{"cancel", "ID", "cancel a pending or running job", cancel},
		{"functions", "", "list the functions the service runs", functions},
	}
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
	fmt.Fprintln(w, "jobs runs the job orchestration service, and starts, watches and cancels its jobs.")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  jobs %-9s %s", c.name, c.args), " "))
		fmt.Fprintf(w, "        %s\n", c.summary)
	}
	fmt.Fprint(w, `
start, list, get, watch, cancel and functions talk to the service at -url or $JOBS_URL
(default `+defaultURL+`) with the token of -token or $JOBS_TOKEN.
"jobs COMMAND -h" lists a command's options.

Exit status: 0 done; 1 the service refused (its message is printed) or could not be reached;
2 a usage error; jobs watch: 3 the job failed, 4 it was cancelled; 130 stopped by Ctrl-C.
`)
}
