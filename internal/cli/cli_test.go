package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/client"
	"jobs/internal/apptest"
	"jobs/internal/testutil"
)

// binary is the jobs command, built once; the tests run it as a user would.
var binary string

func TestMain(m *testing.M) {
	path, remove, err := testutil.BuildJobs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = path
	code := m.Run()
	remove()
	os.Exit(code)
}

// result is how a run of the binary went.
type result struct {
	stdout, stderr string
	code           int
}

// jobs runs the binary with env (KEY=value, on top of this process's environment without
// any JOBS_ variable) and stdin, and waits for it.
func jobs(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, exited := err.(*exec.ExitError); !exited {
			t.Fatalf("jobs %v: %v", args, err)
		}
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

func environ(extra []string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "JOBS_") })
	return append(env, extra...)
}

// want fails the test unless r exited with code and its output contains each of words
// (stdout for code 0, else stderr).
func (r result) want(t *testing.T, code int, words ...string) {
	t.Helper()
	out := r.stdout
	if code != 0 {
		out = r.stderr
	}
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range words {
		if !strings.Contains(out, w) {
			t.Errorf("output does not contain %q:\n%s", w, out)
		}
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %s: %v", raw, err)
	}
	return b.String()
}

// service is a real app and the environment that points the binary at it.
type service struct {
	app *apptest.App
	env []string
}

func startService(t *testing.T) *service {
	t.Helper()
	a := apptest.StartApp(t, apptest.Config(t))
	return &service{app: a, env: []string{"JOBS_URL=" + a.URL, "JOBS_TOKEN=" + a.BearerToken()}}
}

func (s *service) jobs(t *testing.T, args ...string) result {
	t.Helper()
	return jobs(t, s.env, "", args...)
}

// start starts a job with the binary and returns its id.
func (s *service) start(t *testing.T, args ...string) string {
	t.Helper()
	r := s.jobs(t, append([]string{"start"}, append(args, "-q")...)...)
	r.want(t, 0)
	id := strings.TrimSpace(r.stdout)
	if uuid.Validate(id) != nil {
		t.Fatalf("start -q printed %q", r.stdout)
	}
	return id
}

var subcommands = []string{"serve", "token", "start", "list", "get", "watch", "cancel", "functions"}

func TestHelpListsEverySubcommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := jobs(t, nil, "", args...)
		r.want(t, 0, "JOBS_URL", "JOBS_TOKEN", "Exit status")
		for _, sub := range subcommands {
			if !regexp.MustCompile(`(?m)^  jobs ` + sub + `\b`).MatchString(r.stdout) {
				t.Errorf("jobs %v does not list %q:\n%s", args, sub, r.stdout)
			}
		}
	}
	for _, sub := range subcommands {
		r := jobs(t, nil, "", sub, "-h")
		if r.code != 0 || !strings.Contains(r.stderr, "-") {
			t.Errorf("jobs %s -h: exit %d\n%s", sub, r.code, r.stderr)
		}
	}
	r := jobs(t, nil, "", "start", "-h")
	for _, opt := range []string{"-name", "-actor", "-game-id", "-env", "-idempotency-key", "-run-at", "-max-attempts",
		"-timeout-seconds", "-callback-url", "-url", "-token", "-json", "-q"} {
		if !regexp.MustCompile(`(?m)^  ` + opt + `\b`).MatchString(r.stderr) {
			t.Errorf("jobs start -h does not mention %s:\n%s", opt, r.stderr)
		}
	}
	r = jobs(t, nil, "", "list", "-h")
	for _, opt := range []string{"-status", "-function-id", "-actor", "-game-id", "-env", "-name", "-ids", "-created-from",
		"-created-to", "-order", "-page", "-size", "-all"} {
		if !regexp.MustCompile(`(?m)^  ` + opt + `\b`).MatchString(r.stderr) {
			t.Errorf("jobs list -h does not mention %s:\n%s", opt, r.stderr)
		}
	}
	jobs(t, nil, "", "frobnicate").want(t, 2, `unknown command "frobnicate"`, "jobs watch")
	jobs(t, nil, "", "serve", "extra").want(t, 2, `unexpected argument "extra"`)
	jobs(t, nil, "", "-role", "cook", "-f", "../../etc/jobs.yaml").want(t, 2, "-role must be api, worker or all")
}

// A production process (go-zero's Mode pro, its default) does not start on the development
// secrets, nor on a config whose keys contradict each other; the messages name the keys.
func TestServeRefusesAProductionConfigOnDevelopmentSecrets(t *testing.T) {
	t.Parallel()
	config := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(config, []byte("Name: jobs\nHost: 127.0.0.1\nPort: 1\nWorker:\n  Heartbeat: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jobs(t, nil, "", "-f", config).want(t, 2, "Auth.AccessSecret is the development secret and Mode is pro",
		"Callbacks.Secret is the development secret", "Worker.Heartbeat (10s) must be at most a third of Worker.Lease (20s)")
	r := jobs(t, []string{"JOBS_ACCESS_SECRET=an-access-secret", "JOBS_CALLBACK_SECRET=a-callback-secret"}, "", "-f", config)
	r.want(t, 2, "Worker.Heartbeat (10s)")
	if strings.Contains(r.stderr, "development secret") {
		t.Errorf("secrets of its own are still refused:\n%s", r.stderr)
	}
}

// A bad function or schedule entry is a config mistake like a bad key (exit 2), named even
// while MySQL is away: it was found only after the migration, which reported MySQL instead.
func TestServeNamesABadFunctionOrScheduleEntryWithoutMySQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"Functions:\n  - {Id: ok, Kind: http, HTTP: {URL: \"https://example.com\"}}\n  - {Id: resize, Kind: command}\n",
			`jobs: Functions[1] (id "resize"): Command.Argv is required`},
		{"Schedules:\n  - {Tenant: t1, Id: tick, Cron: \"@every 1s\", FunctionId: nope}\n", "Schedules[0]"},
	} {
		config := filepath.Join(t.TempDir(), "jobs.yaml")
		yaml := "Name: jobs\nMode: dev\nHost: 127.0.0.1\nPort: 1\nMySQL: {DataSource: \"root:@tcp(127.0.0.1:1)/jobs\"}\n" + tc.yaml
		if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		r := jobs(t, nil, "", "-f", config)
		r.want(t, 2, tc.want)
		if strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Errorf("the refusal speaks of MySQL:\n%s", r.stderr)
		}
	}
}

// A misspelt key and a value go-zero would refuse without naming it stop start-up with a
// message naming the key, and what it may be.
func TestServeNamesTheKeyOfABadConfigValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"Wroker:\n  Concurrency: 4\n", "unknown config key Wroker (did you mean Worker?)"},
		{"Worker:\n  Concurrency: 99999\n", "Worker.Concurrency (99999) must be between 0 and 10000"},
		{"Log:\n  Level: warn\n", `Log.Level must be debug, info, error or severe, not "warn"`},
		{"Worker:\n  Lease: 20\n", "Worker.Lease (20) needs a unit"},
		{"DevServer:\n  Enabled: true\n  Port: 70000\n", "DevServer.Port (70000) must be between 1 and 65535"},
	} {
		config := filepath.Join(t.TempDir(), "jobs.yaml")
		if err := os.WriteFile(config, []byte("Name: jobs\nMode: dev\nHost: 127.0.0.1\nPort: 1\n"+tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		jobs(t, nil, "", "-f", config).want(t, 2, "jobs: "+config+": "+tc.want)
	}
}

func TestTokenFromTheBinaryWorksWithTheOtherCommands(t *testing.T) {
	t.Parallel()
	s := startService(t)
	config := filepath.Join(t.TempDir(), "jobs.yaml")
	yaml := fmt.Sprintf("Name: jobs\nHost: 127.0.0.1\nPort: 8888\nAuth:\n  AccessSecret: %q\n", s.app.Config.Auth.AccessSecret)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := jobs(t, nil, "", "token", "-tenant", "t9", "-actor", "zed", "-ttl", "1h", "-f", config)
	r.want(t, 0)
	token := strings.TrimSpace(r.stdout)

	r = jobs(t, []string{"JOBS_URL=" + s.app.URL, "JOBS_TOKEN=" + token}, "", "start", "echo", "-json")
	r.want(t, 0)
	if j := decode[client.JobDetail](t, r.stdout); j.TenantID != "t9" || j.Actor != "zed" {
		t.Fatalf("a job started with the minted token: %+v", j)
	}
	jobs(t, nil, "", "token", "-actor", "zed", "-f", config).want(t, 2, "-tenant is required")
	// A name or lifetime jobs token refuses to mint is the caller's mistake too (exit 1 says
	// the service refused, and no service was asked).
	jobs(t, nil, "", "token", "-tenant", "bad tenant", "-f", config).want(t, 2, "jobs token: tenant must be")
	jobs(t, nil, "", "token", "-tenant", "t9", "-actor", "a b", "-f", config).want(t, 2, "jobs token: actor")
	jobs(t, nil, "", "token", "-tenant", "t9", "-ttl", "-1h", "-f", config).want(t, 2, "jobs token: token lifetime must be positive")
	// A config the service would refuse is a usage error, as for jobs serve.
	jobs(t, nil, "", "token", "-tenant", "t9", "-f", filepath.Join(t.TempDir(), "missing.yaml")).want(t, 2, "jobs token:", "missing.yaml")
}

func TestURLAndTokenFromFlagsOrEnvironment(t *testing.T) {
	t.Parallel()
	s := startService(t)
	// The environment alone.
	s.jobs(t, "functions").want(t, 0, "echo", "builtin")
	// Flags win over the environment.
	bad := []string{"JOBS_URL=http://127.0.0.1:1", "JOBS_TOKEN=garbage"}
	jobs(t, bad, "", "functions", "-url", s.app.URL, "-token", s.app.BearerToken()).want(t, 0, "sleep")
	// Each of the environment's, when the flags are absent, is used.
	jobs(t, bad, "", "functions").want(t, 1, "jobs functions:", "connection refused")
	jobs(t, []string{"JOBS_URL=" + s.app.URL, "JOBS_TOKEN=garbage"}, "", "functions").want(t, 1, "the access token is malformed (HTTP 401)")
	// No token at all is a usage error that says how to get one.
	jobs(t, []string{"JOBS_URL=" + s.app.URL}, "", "list").want(t, 2, "JOBS_TOKEN", "jobs token")
	jobs(t, []string{"JOBS_TOKEN=x", "JOBS_URL=127.0.0.1:8888"}, "", "list").want(t, 2, "http:// or https://")
}

func TestStartWithEveryOption(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.jobs(t, "start", "echo", `{"a": 1}`, "-name", "nightly", "-actor", "bob", "-game-id", "g7", "-env", "prod",
		"-idempotency-key", "k1", "-max-attempts", "2", "-timeout-seconds", "9", "-run-at", "1h",
		"-callback-url", "https://hooks.example.com/jobs")
	r.want(t, 0, "status:   pending", "name:     nightly", "actor:    bob", "game:     g7", "env:      prod",
		"attempt:  0 of 2", "timeout:  9s", "run at:", `params:   {"a":1}`, "callback: https://hooks.example.com/jobs")
	m := regexp.MustCompile(`(?m)^id: +(\S+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no id line in:\n%s", r.stdout)
	}
	got := s.app.GetJob(m[1])
	if got.Name != "nightly" || got.Actor != "bob" || got.GameId != "g7" || got.Env != "prod" || got.MaxAttempts != 2 ||
		got.TimeoutSeconds != 9 || got.CallbackUrl != "https://hooks.example.com/jobs" || got.Status != "pending" || got.RunAt == nil {
		t.Fatalf("the job as the service has it: %+v", got)
	}
	if runAt, _ := time.Parse(time.RFC3339, *got.RunAt); time.Until(runAt) < 58*time.Minute || time.Until(runAt) > time.Hour {
		t.Fatalf("runAt %s is not an hour from now", *got.RunAt)
	}
	// The same idempotency key returns the same job.
	again := s.jobs(t, "start", "echo", `{"a": 1}`, "-idempotency-key", "k1", "-json")
	again.want(t, 0)
	if j := decode[client.JobDetail](t, again.stdout); j.ID != m[1] {
		t.Fatalf("the same key started %s, then %s", m[1], j.ID)
	}

	// Params from standard input; an RFC 3339 -run-at; options before the function.
	at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	r = jobs(t, s.env, `{"from": "stdin"}`, "start", "-run-at", at.Format(time.RFC3339), "echo", "-", "-json")
	r.want(t, 0)
	if j := decode[client.JobDetail](t, r.stdout); compact(t, j.Params) != `{"from":"stdin"}` || j.RunAt == nil || !j.RunAt.Equal(at) {
		t.Fatalf("started from stdin: %+v", j)
	}

	// Mistakes.
	s.jobs(t, "start").want(t, 2, "usage: jobs start FUNCTION")
	s.jobs(t, "start", "echo", "{}", "extra").want(t, 2, "usage: jobs start FUNCTION")
	s.jobs(t, "start", "echo", "{not json").want(t, 2, "PARAMS_JSON is not JSON")
	s.jobs(t, "start", "echo", "-run-at", "tomorrow").want(t, 2, "-run-at", `"tomorrow"`)
	s.jobs(t, "start", "echo", "-max-attempts", "many").want(t, 2, "invalid value")
	s.jobs(t, "start", "nosuch").want(t, 1, `jobs start: functionId "nosuch" is not a registered function (HTTP 400)`)
	s.jobs(t, "start", "echo", "[1, 2]").want(t, 1, "params", "(HTTP 400)")
	s.jobs(t, "start", "echo", "-max-attempts", "1000").want(t, 1, "maxAttempts", "(HTTP 400)")
}

func TestGetAndCancel(t *testing.T) {
	t.Parallel()
	s := startService(t)
	id := s.start(t, "echo", `{"k": "v"}`)
	s.app.WaitStatus(id, "completed", 10*time.Second)
	s.jobs(t, "get", id).want(t, 0, "id:       "+id, "status:   completed", `result:   {"k":"v"}`, "finished:")
	r := s.jobs(t, "get", id, "-json")
	r.want(t, 0)
	if j := decode[client.JobDetail](t, r.stdout); j.ID != id || compact(t, j.Result) != `{"k":"v"}` {
		t.Fatalf("get -json: %+v", j)
	}
	s.jobs(t, "cancel", id).want(t, 1, "jobs cancel:", "already completed", "(HTTP 409)")

	long := s.start(t, "sleep", `{"seconds": 60}`)
	s.jobs(t, "cancel", long).want(t, 0, "id:       "+long, "status:   cancelled")
	s.jobs(t, "cancel", long).want(t, 1, "already cancelled", "(HTTP 409)")

	missing := uuid.NewString()
	s.jobs(t, "get", missing).want(t, 1, missing, "(HTTP 404)")
	s.jobs(t, "get", "nope").want(t, 1, `"nope"`, "(HTTP 400)")
	s.jobs(t, "get").want(t, 2, "usage: jobs get ID")
	s.jobs(t, "cancel", "a", "b").want(t, 2, "usage: jobs cancel ID")
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	s := startService(t)
	a := s.start(t, "echo", "-name", "a", "-actor", "ann", "-game-id", "g1", "-env", "dev")
	b := s.start(t, "echo", "-name", "b", "-actor", "bob", "-game-id", "g2", "-env", "prod")
	c := s.start(t, "fail", `{"message": "boom"}`, "-name", "c", "-actor", "ann", "-game-id", "g2", "-env", "prod")
	for id, status := range map[string]string{a: "completed", b: "completed", c: "failed"} {
		s.app.WaitStatus(id, status, 10*time.Second)
	}
	cCreated := s.app.GetJob(c).CreatedAt

	listed := func(args ...string) []string {
		t.Helper()
		r := s.jobs(t, append([]string{"list", "-json"}, args...)...)
		r.want(t, 0)
		page := decode[struct {
			Jobs  []client.JobItem `json:"jobs"`
			Total int64            `json:"total"`
		}](t, r.stdout)
		var ids []string
		for _, j := range page.Jobs {
			ids = append(ids, j.ID)
		}
		if int(page.Total) < len(ids) {
			t.Fatalf("list %v: total %d for %d jobs", args, page.Total, len(ids))
		}
		return ids
	}
	// Starts from one process, one after another: ids and creation times are in start order.
	cases := []struct {
		args []string
		want []string
	}{
		{nil, []string{c, b, a}},
		{[]string{"-status", "failed"}, []string{c}},
		{[]string{"-function-id", "echo"}, []string{b, a}},
		{[]string{"-actor", "ann"}, []string{c, a}},
		{[]string{"-game-id", "g2"}, []string{c, b}},
		{[]string{"-env", "dev"}, []string{a}},
		{[]string{"-name", "b"}, []string{b}},
		{[]string{"-ids", a + "," + c}, []string{c, a}},
		{[]string{"-created-from", cCreated}, []string{c}},
		{[]string{"-created-to", cCreated}, []string{b, a}},
		{[]string{"-created-from", "1h"}, []string{c, b, a}},
		{[]string{"-created-from", "0"}, []string{c, b, a}}, // Unix ms 0, not a duration of 0
		{[]string{"-created-to", "0"}, nil},
		{[]string{"-order", "asc"}, []string{a, b, c}},
		{[]string{"-size", "1", "-page", "2"}, []string{b}},
		{[]string{"-actor", "ann", "-env", "prod"}, []string{c}},
	}
	for _, tc := range cases {
		if got := listed(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("list %v: %v, want %v", tc.args, got, tc.want)
		}
	}
	// -all -json prints the jobs of every page as one array.
	r := s.jobs(t, "list", "-all", "-size", "2", "-order", "asc", "-json")
	r.want(t, 0)
	var all []string
	for _, j := range decode[[]client.JobItem](t, r.stdout) {
		all = append(all, j.ID)
	}
	if !slices.Equal(all, []string{a, b, c}) {
		t.Fatalf("list -all -json: %v, want %v", all, []string{a, b, c})
	}

	// The table, and which page it is.
	r = s.jobs(t, "list", "-size", "2")
	r.want(t, 0, "ID", "STATUS", "FUNCTION", c, b, "page 1 (2 per page) of 3 jobs")
	if strings.Contains(r.stdout, a) {
		t.Errorf("page 1 of 2 shows the third job:\n%s", r.stdout)
	}
	s.jobs(t, "list", "-all", "-size", "2").want(t, 0, a, b, c, "3 jobs")

	s.jobs(t, "list", "-status", "done").want(t, 1, `status "done"`, "(HTTP 400)")
	s.jobs(t, "list", "-size", "1000").want(t, 1, "size", "(HTTP 400)")
	s.jobs(t, "list", "-created-from", "yesterday").want(t, 2, "-created-from")
	s.jobs(t, "list", "stray").want(t, 2, `takes no arguments, got "stray"`)
}

func TestWatchPrintsEventsAndExitsWithTheOutcome(t *testing.T) {
	t.Parallel()
	s := startService(t)
	done := s.start(t, "sleep", `{"seconds": 2}`)
	r := s.jobs(t, "watch", done)
	r.want(t, 0, "job "+done+" (sleep):", "progress: 2/2 slept 2 of 2", "status: completed (attempt 1)",
		"job "+done+" completed\nresult: {\"slept\":2}\n")
	if strings.Contains(r.stdout, "\r") || strings.Contains(r.stdout, "\033[") {
		t.Errorf("not a terminal, but the output draws a bar:\n%q", r.stdout)
	}

	failed := s.start(t, "fail", `{"message": "disk full"}`)
	r = s.jobs(t, "watch", failed)
	r.want(t, 3)
	if !strings.Contains(r.stdout, "job "+failed+" failed: disk full") {
		t.Fatalf("watch of a failed job:\n%s", r.stdout)
	}

	// A job cancelled while watched.
	long := s.start(t, "sleep", `{"seconds": 60}`)
	cmd := exec.Command(binary, "watch", long)
	cmd.Env = environ(s.env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "job "+long) {
		t.Fatalf("watch began with %q", lines.Text())
	}
	if res := s.app.Do(http.MethodPost, "/api/v1/jobs/"+long+"/cancel", nil); res.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 4 || !slices.Contains(rest, "job "+long+" cancelled") {
		t.Fatalf("watch of a cancelled job: exit %d, output %q", code, rest)
	}

	// -json: one event a line, as the stream carries them.
	r = s.jobs(t, "watch", done, "-json")
	r.want(t, 0)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		ev := decode[struct {
			ID    int64           `json:"id"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}](t, line)
		names = append(names, ev.Event)
		if ev.Event == "done" && decode[client.JobDetail](t, string(ev.Data)).Status != "completed" {
			t.Errorf("done event %s", ev.Data)
		}
	}
	if !slices.Equal(names, []string{"snapshot", "done"}) {
		t.Errorf("watch -json of a finished job: %v", names)
	}

	s.jobs(t, "watch", uuid.NewString()).want(t, 1, "jobs watch:", "(HTTP 404)")
	s.jobs(t, "watch").want(t, 2, "usage: jobs watch ID")
}

// Ctrl-C stops a watch with the status shells give a command a SIGINT ended (130), saying so,
// not 1, which means the service refused or could not be reached.
func TestWatchStoppedByCtrlCExits130(t *testing.T) {
	t.Parallel()
	s := startService(t)
	long := s.start(t, "sleep", `{"seconds": 60}`)
	cmd := exec.Command(binary, "watch", long)
	cmd.Env = environ(s.env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if lines := bufio.NewScanner(out); !lines.Scan() || !strings.HasPrefix(lines.Text(), "job "+long) {
		t.Fatalf("watch began with %q", lines.Text())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "jobs watch: interrupted") {
		t.Fatalf("watch stopped by Ctrl-C: exit %d, stderr %q", code, stderr.String())
	}
}

func TestWatchDrawsAProgressBarOnATerminal(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("script (Debian's bsdutils) gives the binary a terminal, and CI must have it")
		}
		t.Skip("script (Debian's bsdutils) is not installed; it gives the binary a terminal")
	}
	s := startService(t)
	id := s.start(t, "sleep", `{"seconds": 2}`)
	// script runs the command on a pseudo-terminal and exits with its status.
	cmd := exec.Command(script, "-qec", binary+" watch "+id, "/dev/null")
	cmd.Env = environ(append(s.env, "TERM=xterm"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("watch on a terminal: %v\n%q", err, out)
	}
	text := string(out)
	for _, want := range []string{"\r\033[K[###############...............]  50% 1/2 slept 1 of 2",
		"[##############################] 100% 2/2 slept 2 of 2", "job " + id + " completed"} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, text)
		}
	}
	if strings.Contains(text, "progress: ") {
		t.Errorf("progress printed as lines on a terminal:\n%q", text)
	}
}
