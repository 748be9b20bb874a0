package app_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// binary is the jobs command built once for the tests that run it as a separate process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jobs-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "jobs")
	build := exec.Command("go", "build", "-o", binary, "jobs")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build jobs:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is the jobs binary running as a child process.
type process struct {
	*exec.Cmd
	URL  string // its API, when its role has one
	logs *syncBuffer
}

// Logs returns what the process has written so far (a failing test prints it last).
func (p *process) Logs() string { return p.logs.String() }

// syncBuffer is a bytes.Buffer safe for the process's two output pipes and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs the jobs binary on c with the given role, plus extraYAML (top-level
// keys) in its config file; it is killed when the test ends if it is still running. With an
// API role it returns once the API answers.
func startProcess(t *testing.T, c config.Config, role string, extraYAML ...string) *process {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	port := testutil.FreePort(t)
	yaml := fmt.Sprintf(`Name: jobs-process
Mode: dev
Host: 127.0.0.1
Port: %d
Timeout: %d
CpuThreshold: %d
Log:
  Mode: console
  Level: %s
  Stat: false
MySQL:
  DataSource: %q
  Migrate: false
Redis:
  Addr: %q
  Prefix: %q
Worker:
  Concurrency: %d
  Lease: %s
  Heartbeat: %s
  ProgressFlush: %s
  ClaimIdle: %s
  ShutdownGrace: %s
Recovery:
  Interval: %s
Events:
  HeaderTimeout: %s
`, port, c.Timeout, c.CpuThreshold, c.Log.Level, c.MySQL.DataSource, c.Redis.Addr, c.Redis.Prefix, c.Worker.Concurrency, c.Worker.Lease,
		c.Worker.Heartbeat, c.Worker.ProgressFlush, c.Worker.ClaimIdle, c.Worker.ShutdownGrace, c.Recovery.Interval,
		c.Events.HeaderTimeout) + strings.Join(extraYAML, "")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-f", file, "-role", role)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	testutil.LogsOnFailure(t, "output of jobs -role "+role, logs.String)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	p := &process{Cmd: cmd, logs: logs}
	if role != "worker" {
		p.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
		if !testutil.Eventually(20*time.Second, func() bool {
			resp, err := http.Get(p.URL + "/api/v1/functions") // any answer (a 401) means it serves
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}) {
			t.Fatalf("process with role %s never answered on %s", role, p.URL)
		}
	}
	return p
}

// Expected client errors are answered, not logged at error level with the whole request:
// rejected tokens (go-zero's JWT middleware logged them, token and all), idempotent retries
// (go-zero's sqlx logged the duplicate-key insert, params and all), bad input, unknown ids.
// A result request that waits as asked is not a slow call.
func TestExpectedClientErrorsAreNotLogged(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	c.Worker.Concurrency = 0 // jobs stay pending: the result request waits its whole wait
	p := startProcess(t, c, "api")
	client := apptest.Client(t, p.URL, c)
	const forged = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ0MSJ9.forgedsignature0123456789"
	for _, path := range []string{"/api/v1/jobs", "/api/v1/functions", "/api/v1/jobs/01900000-0000-7000-8000-000000000000/stream?access_token=" + forged} {
		if res := getWith(client, forged, path, nil); res.Status != http.StatusUnauthorized {
			t.Fatalf("GET %s with a forged token: %d", path, res.Status)
		}
	}
	retry := map[string]any{"functionId": "echo", "idempotencyKey": "nightly", "params": map[string]any{"secret-ish": "params"}}
	first := client.StartJob(retry)
	for range 5 {
		if again := client.StartJob(retry); again.Id != first.Id {
			t.Fatalf("retry started %s, want %s", again.Id, first.Id)
		}
	}
	if res := client.Do(http.MethodPost, "/api/v1/jobs", `{"functionId": 7}`); res.Status != http.StatusBadRequest {
		t.Fatalf("bad start: %d %s", res.Status, res.Body)
	}
	if res := client.Do(http.MethodGet, "/api/v1/jobs/01900000-0000-7000-8000-000000000000", nil); res.Status != http.StatusNotFound {
		t.Fatalf("unknown job: %d %s", res.Status, res.Body)
	}
	start := time.Now()
	var result apptest.Job
	client.Do(http.MethodGet, "/api/v1/jobs/"+first.Id+"/result?wait=1", nil).Data(t, &result)
	if d := time.Since(start); result.Status != "pending" || d < time.Second {
		t.Fatalf("result?wait=1 of a pending job: %s after %s", result.Status, d)
	}
	// Stop the process, so everything it would log is out.
	_ = p.Process.Signal(syscall.SIGTERM)
	_ = p.Wait()
	logs := p.Logs()
	for _, unwanted := range []string{"forgedsignature", "authorize failed", "Duplicate entry", "secret-ish", `"level":"error"`, `"level":"slow"`} {
		if strings.Contains(logs, unwanted) {
			t.Fatalf("the logs hold %q:\n%s", unwanted, logs)
		}
	}
}

// Credentials never reach the logs, wherever a request carries them. A failing request
// (MySQL is cut off) is logged with its headers, which are redacted.
func TestCredentialsAreRedactedInTheLogs(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	c.Worker.Concurrency = 0
	c.Log.Level = "info"
	dsn, proxy := testutil.ThroughProxy(t, c.MySQL.DataSource)
	c.MySQL.DataSource = dsn
	p := startProcess(t, c, "api")
	client := apptest.Client(t, p.URL, c)
	token := client.BearerToken()
	signature := token[strings.LastIndex(token, ".")+1:]
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + token))

	proxy.Cut()
	for _, req := range []struct {
		path   string
		header http.Header
	}{
		{"/api/v1/jobs?token=" + token, nil},
		{"/api/v1/jobs?jwt=" + token + "&size=1", nil},
		{"/api/v1/jobs/01900000-0000-7000-8000-000000000000/stream?access_token=" + token, nil},
		{"/api/v1/jobs", http.Header{"X-Access-Token": {token}}},
		{"/api/v1/jobs", http.Header{"Cookie": {"theme=dark; session=" + token}}},
		{"/api/v1/jobs", http.Header{"Proxy-Authorization": {"Basic " + basic}}},
	} {
		if res := getWith(client, token, req.path, req.header); res.Status != http.StatusServiceUnavailable {
			t.Fatalf("GET %s with MySQL cut off: %d, want 503", req.path, res.Status)
		}
	}
	_ = p.Process.Signal(syscall.SIGTERM)
	_ = p.Wait()
	logs := p.Logs()
	if strings.Contains(logs, signature) || strings.Contains(logs, basic) || strings.Count(logs, "[redacted]") < 12 {
		t.Fatalf("the logs hold a credential, or redact too little (%d times):\n%s", strings.Count(logs, "[redacted]"), logs)
	}
	for _, logged := range []string{"X-Access-Token: [redacted]", "session=[redacted]", "Proxy-Authorization: Basic [redacted]",
		"jwt=[redacted]", "token=[redacted]", "Authorization: Bearer [redacted]"} {
		if !strings.Contains(logs, logged) {
			t.Errorf("the logs do not show %q:\n%s", logged, logs)
		}
	}
}

// getWith GETs path with token as the bearer token (unless path carries access_token) and
// the extra header.
func getWith(a *apptest.App, token, path string, header http.Header) apptest.Response {
	if strings.Contains(path, "access_token=") {
		token = ""
	}
	return a.WithToken(token).DoWith(http.MethodGet, path, nil, header)
}

func TestTokenCommandMintsOnlyWellFormedIdentities(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	a := apptest.StartApp(t, c)
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, []byte("Name: jobs\nHost: 127.0.0.1\nPort: 8888\nAuth:\n  AccessSecret: "+c.Auth.AccessSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "token", "-f", file, "-tenant", "t1", "-actor", "alice@example.com").Output()
	if err != nil {
		t.Fatalf("jobs token: %v", err)
	}
	a.WithToken(strings.TrimSpace(string(out))).Do(http.MethodGet, "/api/v1/functions", nil).Data(t, nil)
	for _, args := range [][]string{{"-tenant", "t1 "}, {"-tenant", "-t1"}, {"-tenant", strings.Repeat("t", 65)}, {"-tenant", "t1", "-actor", "a b"}} {
		out, err := exec.Command(binary, append([]string{"token", "-f", file}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "must be") {
			t.Errorf("jobs token %q: %v %s, want a refusal saying what the name must be", args, err, out)
		}
	}
}

// A config key go-zero would ignore stops start-up, naming it; the development secrets are
// warned about at start-up.
func TestConfigMistakesAreNotIgnored(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	yaml := "Name: jobs\nHost: 127.0.0.1\nPort: 1\nMySQL:\n  DataSouce: root:@tcp(127.0.0.1:3306)/elsewhere\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "-f", file).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "unknown config key MySQL.DataSouce (did you mean DataSource?)") {
		t.Fatalf("start with a misspelt key: %v\n%s", err, out)
	}

	c := apptest.Config(t)
	c.Worker.Concurrency = 0
	c.Log.Level = "severe" // the warnings are shown whatever the level
	p := startProcess(t, c, "all")
	_ = p.Process.Signal(syscall.SIGTERM)
	_ = p.Wait()
	for _, key := range []string{"Auth.AccessSecret", "Callbacks.Secret"} {
		if !strings.Contains(p.Logs(), "warning: "+key+" is the development secret") {
			t.Errorf("no warning about %s at start-up:\n%s", key, p.Logs())
		}
	}
}

// An API process and a worker process each serve their own /metrics on go-zero's dev
// server: the API's tells the start and its HTTP requests, the worker's the run.
func TestAPIAndWorkerProcessesEachServeTheirMetrics(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	// No lease may run out on a loaded machine: a reaped attempt would be counted twice.
	c.Worker.Lease, c.Worker.Heartbeat = time.Minute, time.Second
	devServer := func(port int) string {
		return fmt.Sprintf("DevServer:\n  Enabled: true\n  Host: 127.0.0.1\n  Port: %d\n", port)
	}
	apiPort, workerPort := testutil.FreePort(t), testutil.FreePort(t)
	api := startProcess(t, c, "api", devServer(apiPort))
	startProcess(t, c, "worker", devServer(workerPort))
	client := apptest.Client(t, api.URL, c)
	job := client.StartJob(map[string]any{"functionId": "echo"})
	client.WaitStatus(job.Id, "completed", 60*time.Second)

	scrape := func(port int, check func(m testutil.Metrics) error) {
		t.Helper()
		url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		var last error
		if !testutil.Eventually(60*time.Second, func() bool {
			m, err := testutil.TryScrape(url)
			if err == nil {
				err = check(m)
			}
			last = err
			return err == nil
		}) {
			t.Fatalf("%s: %v", url, last)
		}
	}
	scrape(apiPort, func(m testutil.Metrics) error {
		if v, _ := m.Value("jobs_started_total", "function", "echo"); v != 1 {
			return fmt.Errorf("jobs_started_total{echo} = %v, want 1", v)
		}
		if v, _ := m.Value("http_server_requests_code_total", "path", "/api/v1/jobs", "method", "POST", "code", "200"); v != 1 {
			return fmt.Errorf("go-zero's http_server_requests_code_total{POST /api/v1/jobs 200} = %v, want 1", v)
		}
		if _, ok := m.Value("jobs_finished_total", "function", "echo"); ok {
			return fmt.Errorf("the API process counts a job it did not finish")
		}
		return nil
	})
	scrape(workerPort, func(m testutil.Metrics) error {
		if v, _ := m.Value("jobs_finished_total", "function", "echo", "status", "completed"); v != 1 {
			return fmt.Errorf("jobs_finished_total{echo, completed} = %v, want 1", v)
		}
		if v, _ := m.Value("jobs_queue_wait_seconds", "function", "echo"); v != 1 {
			return fmt.Errorf("jobs_queue_wait_seconds{echo} has %v observations, want 1", v)
		}
		if _, ok := m.Value("jobs_started_total", "function", "echo"); ok {
			return fmt.Errorf("the worker process counts a start it did not take")
		}
		return nil
	})
}
