package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"jobs/client"
)

// defaultURL is where `make run` serves.
const defaultURL = "http://127.0.0.1:8888"

// clientCommand is what the commands that talk to the service share: their flag set with
// -url, -token and -json, and the way they report.
type clientCommand struct {
	command
	env    Env
	fs     *flag.FlagSet
	url    *string
	token  *string
	asJSON *bool
	// interrupted ends when Ctrl-C or SIGTERM arrives (set by run).
	interrupted context.Context
}

func newClientCommand(env Env, name string) *clientCommand {
	cmd := &clientCommand{env: env, fs: flag.NewFlagSet("jobs "+name, flag.ContinueOnError)}
	for _, c := range commands {
		if c.name == name {
			cmd.command = c
		}
	}
	cmd.fs.SetOutput(env.Stderr)
	cmd.fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: jobs %s %s\n  %s\n\nOptions:\n", cmd.name, cmd.args, cmd.summary)
		cmd.fs.PrintDefaults()
	}
	cmd.url = cmd.fs.String("url", "", "the service's base URL (default $JOBS_URL, else "+defaultURL+")")
	cmd.token = cmd.fs.String("token", "", "the access token (default $JOBS_TOKEN; jobs token mints one)")
	cmd.asJSON = cmd.fs.Bool("json", false, "print the service's answers as JSON")
	return cmd
}

// parse parses args, flags and positional arguments mixed, and returns the positional ones;
// ok is false (with the exit status) when the command must not go on.
func (cmd *clientCommand) parse(args []string, minArgs, maxArgs int) (pos []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(cmd.fs, args); !ok {
			return nil, code, false
		}
		rest := cmd.fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" { // the rest is positional
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) > maxArgs && maxArgs == 0:
		return nil, cmd.usageError("takes no arguments, got %q", pos[0]), false
	case len(pos) < minArgs || len(pos) > maxArgs:
		return nil, cmd.usageError("usage: jobs %s %s", cmd.name, cmd.args), false
	}
	return pos, exitOK, true
}

// usageError prints a usage mistake and returns the usage exit status.
func (cmd *clientCommand) usageError(format string, args ...any) int {
	fmt.Fprintf(cmd.env.Stderr, "jobs %s: %s\n", cmd.name, fmt.Sprintf(format, args...))
	fmt.Fprintf(cmd.env.Stderr, "Run 'jobs %s -h' for its options.\n", cmd.name)
	return exitUsage
}

// fail prints an error (the service's message, for its refusals) and returns exitError.
func (cmd *clientCommand) fail(err error) int {
	if cmd.interrupted != nil && cmd.interrupted.Err() != nil {
		fmt.Fprintf(cmd.env.Stderr, "jobs %s: interrupted\n", cmd.name)
		return exitInterrupted
	}
	fmt.Fprintf(cmd.env.Stderr, "jobs %s: %v\n", cmd.name, err)
	return exitError
}

// client connects to the service named by -url or JOBS_URL with -token or JOBS_TOKEN.
func (cmd *clientCommand) client() (*client.Client, int, bool) {
	token := cmp.Or(*cmd.token, cmd.env.Getenv("JOBS_TOKEN"))
	if token == "" {
		return nil, cmd.usageError("no token: set JOBS_TOKEN or pass -token (jobs token -tenant T mints one)"), false
	}
	c, err := client.New(cmp.Or(*cmd.url, cmd.env.Getenv("JOBS_URL"), defaultURL), token)
	if err != nil {
		return nil, cmd.usageError("%v", err), false
	}
	return c, exitOK, true
}

// run parses args (minArgs to maxArgs positional ones), connects to the service, and calls
// do with a context that Ctrl-C cancels; do returns the exit status.
func (cmd *clientCommand) run(args []string, minArgs, maxArgs int, do func(ctx context.Context, c *client.Client, pos []string) int) int {
	pos, code, ok := cmd.parse(args, minArgs, maxArgs)
	if !ok {
		return code
	}
	c, code, ok := cmd.client()
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd.interrupted = ctx
	return do(ctx, c, pos)
}

// answer prints the service's answer v (indented JSON with -json, else as text prints it),
// or err.
func (cmd *clientCommand) answer(v any, err error, text func(w io.Writer)) int {
	if err != nil {
		return cmd.fail(err)
	}
	if !*cmd.asJSON {
		text(cmd.env.Stdout)
		return exitOK
	}
	enc := json.NewEncoder(cmd.env.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return exitOK
}

func start(env Env, args []string) int {
	cmd := newClientCommand(env, "start")
	var req client.StartRequest
	cmd.fs.StringVar(&req.Name, "name", "", "a human name for the job")
	cmd.fs.StringVar(&req.Actor, "actor", "", "who starts it (default: the token's actor)")
	cmd.fs.StringVar(&req.GameID, "game-id", "", "the game the job belongs to")
	cmd.fs.StringVar(&req.Env, "env", "", "the environment (dev, prod, ...)")
	cmd.fs.StringVar(&req.IdempotencyKey, "idempotency-key", "", "starting again with the same key returns the first job")
	runAt := cmd.fs.String("run-at", "", "start no earlier than this RFC 3339 time, or this long from now (90s, 2h)")
	cmd.fs.IntVar(&req.MaxAttempts, "max-attempts", 0, "attempts allowed (default: the function's)")
	cmd.fs.IntVar(&req.TimeoutSeconds, "timeout-seconds", 0, "bound of each attempt in seconds (default: the function's)")
	cmd.fs.StringVar(&req.CallbackURL, "callback-url", "", "POSTed the job once it is terminal")
	quiet := cmd.fs.Bool("q", false, "print only the job's id")
	return cmd.run(args, 1, 2, func(ctx context.Context, c *client.Client, pos []string) int {
		req.FunctionID = pos[0]
		if len(pos) == 2 {
			params, err := readParams(pos[1], env.Stdin)
			if err != nil {
				return cmd.usageError("%v", err)
			}
			req.Params = params
		}
		if *runAt != "" {
			t, err := parseTime(*runAt, time.Now(), 1)
			if err != nil {
				return cmd.usageError("-run-at: %v", err)
			}
			req.RunAt = t
		}
		job, err := c.Start(ctx, req)
		if err == nil && *quiet {
			fmt.Fprintln(env.Stdout, job.ID)
			return exitOK
		}
		return cmd.answer(job, err, func(w io.Writer) { printJob(w, job) })
	})
}

// readParams reads PARAMS_JSON: the argument itself, or standard input for "-".
func readParams(arg string, stdin io.Reader) (json.RawMessage, error) {
	raw := []byte(arg)
	if arg == "-" {
		var err error
		if raw, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("read PARAMS_JSON from standard input: %v", err)
		}
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("PARAMS_JSON is not JSON: %.80s", raw)
	}
	return raw, nil
}

// parseTime reads an RFC 3339 time, Unix milliseconds, or a duration from now in the
// direction sign (1: ahead, -1: ago). A bare number is milliseconds: "0", which
// time.ParseDuration also takes, is 1970, not now.
func parseTime(s string, now time.Time, sign time.Duration) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(sign * d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-21T10:00:00Z), nor Unix milliseconds, nor a duration (90s, 2h)", s)
}

func list(env Env, args []string) int {
	cmd := newClientCommand(env, "list")
	var f client.ListFilter
	status := cmd.fs.String("status", "", "pending, running, completed, failed or cancelled")
	cmd.fs.StringVar(&f.FunctionID, "function-id", "", "jobs of this function")
	cmd.fs.StringVar(&f.Actor, "actor", "", "jobs started by this actor")
	cmd.fs.StringVar(&f.GameID, "game-id", "", "jobs of this game")
	cmd.fs.StringVar(&f.Env, "env", "", "jobs of this environment")
	cmd.fs.StringVar(&f.Name, "name", "", "jobs of this name")
	ids := cmd.fs.String("ids", "", "only these jobs (comma-separated ids, up to 100)")
	from := cmd.fs.String("created-from", "", "created at or after this RFC 3339 time, Unix ms, or this long ago (1h)")
	to := cmd.fs.String("created-to", "", "created before this RFC 3339 time, Unix ms, or this long ago")
	order := cmd.fs.String("order", "", "desc (newest first, the default) or asc")
	cmd.fs.IntVar(&f.Page, "page", 0, "the page, from 1")
	cmd.fs.IntVar(&f.Size, "size", 0, "jobs per page, 1..100 (default 20)")
	all := cmd.fs.Bool("all", false, "every page from -page on")
	return cmd.run(args, 0, 0, func(ctx context.Context, c *client.Client, _ []string) int {
		f.Status, f.Order = client.Status(*status), client.Order(*order)
		if *ids != "" {
			f.IDs = strings.Split(*ids, ",")
		}
		now := time.Now()
		for _, t := range []struct {
			flag, value string
			into        *time.Time
		}{{"-created-from", *from, &f.CreatedFrom}, {"-created-to", *to, &f.CreatedTo}} {
			if t.value == "" {
				continue
			}
			var err error
			if *t.into, err = parseTime(t.value, now, -1); err != nil {
				return cmd.usageError("%s: %v", t.flag, err)
			}
		}
		if !*all {
			page, err := c.List(ctx, f)
			return cmd.answer(page, err, func(w io.Writer) {
				printList(w, page.Jobs)
				printTotal(w, page)
			})
		}
		jobs := []client.JobItem{}
		for job, err := range c.ListAll(ctx, f) {
			if err != nil {
				return cmd.fail(err)
			}
			jobs = append(jobs, job)
		}
		return cmd.answer(jobs, nil, func(w io.Writer) {
			printList(w, jobs)
			fmt.Fprintf(w, "%d jobs\n", len(jobs))
		})
	})
}

func get(env Env, args []string) int {
	return withJob(env, "get", args, (*client.Client).Get)
}

func cancel(env Env, args []string) int {
	return withJob(env, "cancel", args, (*client.Client).Cancel)
}

// withJob runs a command of one job id that answers with the job, and prints it.
func withJob(env Env, name string, args []string, do func(*client.Client, context.Context, string) (*client.JobDetail, error)) int {
	cmd := newClientCommand(env, name)
	return cmd.run(args, 1, 1, func(ctx context.Context, c *client.Client, pos []string) int {
		job, err := do(c, ctx, pos[0])
		return cmd.answer(job, err, func(w io.Writer) { printJob(w, job) })
	})
}

func functions(env Env, args []string) int {
	cmd := newClientCommand(env, "functions")
	return cmd.run(args, 0, 0, func(ctx context.Context, c *client.Client, _ []string) int {
		fns, err := c.Functions(ctx)
		return cmd.answer(fns, err, func(w io.Writer) { printFunctions(w, fns) })
	})
}

func watch(env Env, args []string) int {
	cmd := newClientCommand(env, "watch")
	return cmd.run(args, 1, 1, func(ctx context.Context, c *client.Client, pos []string) int {
		view := newWatchView(env.Stdout, *cmd.asJSON)
		job, err := c.Watch(ctx, pos[0], view.event)
		view.end()
		if err != nil {
			return cmd.fail(err)
		}
		view.final(job)
		switch job.Status {
		case client.StatusCompleted:
			return exitOK
		case client.StatusCancelled:
			return exitCancelled
		default:
			return exitFailed
		}
	})
}
