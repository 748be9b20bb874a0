// Package command runs command functions: a configured program, without a shell, speaking
// the line protocol of README, "Command functions".
package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/text"
)

// The line protocol a command speaks on stdout (README, "Command functions"). Every other
// line of stdout and stderr is a log line.
const (
	// ProgressPrefix starts a progress line: "::progress DONE/TOTAL message" or
	// "::progress DONE message" (total unknown).
	ProgressPrefix = "::progress "
	// ResultPrefix starts the result line: "::result <one JSON value>". The last one wins;
	// without one the result is null.
	ResultPrefix = "::result "
)

const (
	// maxLine bounds one output line; the rest of a longer line is dropped. A ::result line
	// of any result that may be stored fits.
	maxLine = len(ResultPrefix) + functions.MaxResultBytes
	// maxLogLine bounds a line as a log event.
	maxLogLine = 4096
	// stderrTailLines is how many last stderr lines a failed command's error carries.
	stderrTailLines = 20
	// stderrTailBytes bounds them.
	stderrTailBytes = 3000
	// pipeDrain is how long output is still read after the command's session is gone (a
	// process that left it may hold the pipes open), and how long its end is awaited.
	pipeDrain = 2 * time.Second
)

// MaxParamsBytes bounds a command job's params as JSON (functions.Definition.MaxParamsBytes):
// they go in JOB_PARAMS, and Linux refuses one environment string over MAX_ARG_STRLEN (128
// KiB, "JOB_PARAMS=" and the terminating NUL included) with E2BIG at every attempt.
const MaxParamsBytes = 128<<10 - len("JOB_PARAMS=") - 1

// placeholder matches an argument that is a whole template: {{params.NAME}}.
var placeholder = regexp.MustCompile(`^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)

// argTemplate is one argv entry: a literal, or the name of the param that fills it.
type argTemplate struct {
	literal string
	param   string
}

// DefaultKillGrace is the default of Command.KillGrace.
const DefaultKillGrace = 5 * time.Second

var envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New checks a function's Command keys and returns its runner; errors name the key.
func New(cc config.CommandConf) (*Runner, error) {
	if len(cc.Argv) == 0 || cc.Argv[0] == "" {
		return nil, fmt.Errorf("Command.Argv is required (the program and its arguments)")
	}
	c := &Runner{dir: cc.Dir, killGrace: cc.KillGrace}
	for i, a := range cc.Argv {
		if m := placeholder.FindStringSubmatch(a); m != nil {
			if i == 0 {
				return nil, fmt.Errorf("Command.Argv[0] must name the program, not a template")
			}
			c.argv = append(c.argv, argTemplate{param: m[1]})
			continue
		}
		if strings.Contains(a, "{{") {
			return nil, fmt.Errorf("Command.Argv[%d] %q: a template must be a whole argument, {{params.NAME}}", i, a)
		}
		c.argv = append(c.argv, argTemplate{literal: a})
	}
	if cc.Dir != "" {
		if st, err := os.Stat(cc.Dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("Command.Dir %q is not a directory", cc.Dir)
		}
	}
	for _, code := range cc.PermanentExitCodes {
		if code < 1 || code > 255 {
			return nil, fmt.Errorf("Command.PermanentExitCodes: %d is not an exit code of a failure (1 to 255)", code)
		}
	}
	c.permanentExits = cc.PermanentExitCodes
	switch {
	case cc.KillGrace < 0:
		return nil, fmt.Errorf("Command.KillGrace must not be negative")
	case cc.KillGrace == 0:
		c.killGrace = DefaultKillGrace
	}
	keys := make([]string, 0, len(cc.Env))
	for k := range cc.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c.path = os.Getenv("PATH")
	if p, ok := cc.Env["PATH"]; ok {
		c.path = p
	}
	c.env = append(c.env, "PATH="+c.path)
	for _, k := range keys {
		if !envKeyPattern.MatchString(k) {
			return nil, fmt.Errorf("Command.Env key %q is not a variable name", k)
		}
		if k == "JOB_ID" || k == "JOB_ATTEMPT" || k == "JOB_PARAMS" {
			return nil, fmt.Errorf("Command.Env must not set %s (the job sets it)", k)
		}
		if k == "PATH" {
			continue
		}
		c.env = append(c.env, k+"="+cc.Env[k])
	}
	return c, nil
}

// Runner runs a configured program; see CommandConf in internal/config.
type Runner struct {
	argv []argTemplate
	dir  string
	env  []string
	// path is the program's PATH, where a program named without a slash is found.
	path      string
	killGrace time.Duration
	// permanentExits are the exit codes that fail a job without further attempts.
	permanentExits []int
}

// Params returns the names of the params the templates use.
func (c *Runner) Params() []string {
	var names []string
	for _, a := range c.argv {
		if a.param != "" {
			names = append(names, a.param)
		}
	}
	return names
}

// Check vets params for the argument templates (at start, so a caller learns at once).
func (c *Runner) Check(params map[string]any) error {
	_, err := c.render(params)
	return err
}

// render builds the argv. A param fills exactly one argument and may be a string, number
// or boolean; a value that starts with "-" (it would read as an option) or holds a control
// character (a newline, say) is refused. No shell ever sees the arguments, so ";", "|",
// "$(...)" and quotes are plain characters.
func (c *Runner) render(params map[string]any) ([]string, error) {
	args := make([]string, len(c.argv))
	for i, a := range c.argv {
		if a.param == "" {
			args[i] = a.literal
			continue
		}
		v, err := argValue(a.param, params[a.param])
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return args, nil
}

func argValue(name string, v any) (string, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", fmt.Errorf("params.%s is required", name)
	case string:
		s = x
	case json.Number:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", fmt.Errorf("params.%s must be a string, number or boolean", name)
	}
	switch {
	case strings.HasPrefix(s, "-"):
		return "", fmt.Errorf("params.%s must not start with \"-\" (it would be read as an option)", name)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("params.%s is not valid UTF-8", name)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", fmt.Errorf("params.%s must not contain control characters such as newlines", name)
	}
	return s, nil
}

// Run runs one attempt: the process gets the job as environment and as JSON on stdin,
// speaks the line protocol on stdout, and its exit status decides the outcome.
func (c *Runner) Run(ctx context.Context, call functions.Call, report functions.Reporter) (any, error) {
	params, err := functions.DecodeParams(call.Params)
	if err != nil {
		return nil, functions.Permanent(fmt.Errorf("params: %v", err))
	}
	args, err := c.render(params)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	stdin, err := json.Marshal(map[string]any{"id": call.JobID, "attempt": call.Attempt, "params": call.Params})
	if err != nil {
		return nil, functions.Permanent(err)
	}

	cmd := exec.Command(args[0], args[1:]...)
	if !strings.Contains(args[0], "/") {
		// exec.Command looked on the service's PATH.
		cmd.Path, cmd.Err = lookPath(args[0], c.path)
	}
	cmd.Dir = c.dir
	cmd.Env = append(append([]string{}, c.env...),
		"JOB_ID="+call.JobID, "JOB_ATTEMPT="+strconv.FormatInt(call.Attempt, 10), "JOB_PARAMS="+string(call.Params))
	// Its own session (and process group), so cancel and timeout reach every process it
	// started (session.go).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Stdin is a pipe of the runner's, as stdout and stderr are: exec.Cmd's Wait would wait
	// for all of stdin to be read, and a process the command started may hold it unread.
	pipes, err := openPipes(3)
	if err != nil {
		return nil, err
	}
	inR, inW, outR, outW, errR, errW := pipes[0], pipes[1], pipes[2], pipes[3], pipes[4], pipes[5]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	startErr := cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if startErr != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		err := fmt.Errorf("start %s: %w", args[0], startErr)
		if errors.Is(startErr, syscall.E2BIG) {
			err = fmt.Errorf("%w: its environment (JOB_PARAMS: %d bytes of params) and arguments are more than Linux passes to a program", err, len(call.Params))
		}
		if errors.Is(startErr, fs.ErrNotExist) || errors.Is(startErr, fs.ErrPermission) || errors.Is(startErr, exec.ErrNotFound) ||
			errors.Is(startErr, syscall.E2BIG) {
			return nil, functions.Permanent(err)
		}
		return nil, err
	}
	sid := cmd.Process.Pid
	closeStdin := sync.OnceFunc(func() { inW.Close() })
	written := make(chan struct{})
	go func() {
		defer close(written)
		// An error is the command's closing stdin, or its end closing it below.
		_, _ = inW.Write(stdin)
		closeStdin()
	}()

	var out stdoutState
	stderr := &tail{max: stderrTailLines, maxBytes: stderrTailBytes}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		readLines(outR, func(line string, cut bool) { out.handle(line, cut, report) })
	}()
	go func() {
		defer readers.Done()
		readLines(errR, func(line string, _ bool) {
			stderr.add(line)
			report.Log("stderr", text.Truncate(line, maxLogLine))
		})
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	// stopped is whether the command was cut short; a ctx that ends after it exited (while
	// what it left behind is ended and its output read) does not undo its outcome.
	stopped := false
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		stopped = true
		waitErr = stopSession(sid, c.killGrace, exited)
	}
	// Whatever the command left running goes with it.
	endSession(sid, stopped, pipeDrain)
	closeStdin()
	<-written
	drained := make(chan struct{})
	go func() {
		readers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(pipeDrain):
		// A process out of the killed group (or session) still holds the pipes: stop reading.
		outR.Close()
		errR.Close()
		<-drained
	}
	outR.Close()
	errR.Close()

	if stopped {
		return nil, ctx.Err()
	}
	if waitErr != nil {
		msg, permanent := waitErr.Error(), false
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				msg = "killed by signal " + ws.Signal().String()
			} else {
				msg = "exit status " + strconv.Itoa(exit.ExitCode())
				permanent = slices.Contains(c.permanentExits, exit.ExitCode())
			}
		}
		if t := stderr.text(); t != "" {
			msg += ": " + t
		}
		if permanent {
			return nil, functions.Permanent(errors.New(msg))
		}
		return nil, errors.New(msg)
	}
	if out.resultErr != nil {
		return nil, functions.Permanent(out.resultErr)
	}
	if out.result == nil {
		return nil, nil
	}
	return out.result, nil
}

// stdoutState follows the protocol lines of stdout; only its reader goroutine writes it,
// and the runner reads it after that goroutine ended.
type stdoutState struct {
	result    json.RawMessage
	resultErr error
}

// cut says that the line was longer than maxLine, and line is its start.
func (s *stdoutState) handle(line string, cut bool, report functions.Reporter) {
	switch {
	case strings.HasPrefix(line, ResultPrefix) && cut:
		s.result, s.resultErr = nil, fmt.Errorf("result is over the limit of %d bytes", functions.MaxResultBytes)
	case strings.HasPrefix(line, ResultPrefix):
		raw := strings.TrimSpace(strings.TrimPrefix(line, ResultPrefix))
		if !json.Valid([]byte(raw)) {
			s.result, s.resultErr = nil, fmt.Errorf("the %sline is not one JSON value: %q", ResultPrefix, text.Truncate(raw, 200))
			return
		}
		s.result, s.resultErr = json.RawMessage(raw), nil
	case strings.HasPrefix(line, ProgressPrefix):
		if done, total, msg, ok := parseProgress(strings.TrimPrefix(line, ProgressPrefix)); ok {
			report.Progress(done, total, msg)
			return
		}
		report.Log("stdout", text.Truncate(line, maxLogLine))
	default:
		report.Log("stdout", text.Truncate(line, maxLogLine))
	}
}

// parseProgress reads "DONE/TOTAL message" or "DONE message".
func parseProgress(s string) (done, total int64, message string, ok bool) {
	counts, message, _ := strings.Cut(strings.TrimLeft(s, " "), " ")
	doneText, totalText, hasTotal := strings.Cut(counts, "/")
	done, err := strconv.ParseInt(doneText, 10, 64)
	if err != nil || done < 0 {
		return 0, 0, "", false
	}
	if hasTotal {
		if total, err = strconv.ParseInt(totalText, 10, 64); err != nil || total < 0 {
			return 0, 0, "", false
		}
	}
	return done, total, strings.TrimSpace(message), true
}

// lookPath finds the executable file in the absolute directories of path (a relative one
// would depend on the working directory), as exec.LookPath does in the service's PATH.
func lookPath(file, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// openPipes returns n pipes, each as its read end and its write end.
func openPipes(n int) ([]*os.File, error) {
	files := make([]*os.File, 0, 2*n)
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, r, w)
	}
	return files, nil
}

// readLines calls fn with each line of r (without its newline, trailing \r removed).
// Lines over maxLine are cut there, and fn is told. It returns at EOF or on a read error.
func readLines(r io.Reader, fn func(line string, cut bool)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		keep := min(len(chunk), maxLine-len(buf))
		// Dropping only the line's end (\n or \r\n) does not cut it.
		cut = cut || len(bytes.TrimSuffix(bytes.TrimSuffix(chunk[keep:], []byte("\n")), []byte("\r"))) > 0
		buf = append(buf, chunk[:keep]...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(buf) > 0 {
			fn(strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r"), cut)
		}
		buf, cut = buf[:0], false
		if err != nil {
			return
		}
	}
}

// tail keeps the last max lines added to it, for the last maxBytes of them.
type tail struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	lines    []string
}

func (t *tail) add(line string) {
	// text keeps at most maxBytes from the end; the byte more says that it cut.
	if len(line) > t.maxBytes+1 {
		line = strings.Clone(line[len(line)-t.maxBytes-1:])
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// text joins the kept lines with newlines, keeping at most maxBytes from the end.
func (t *tail) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(strings.Join(t.lines, "\n"))
	if len(s) > t.maxBytes {
		s = s[len(s)-t.maxBytes:]
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
		s = "…" + s
	}
	return s
}
