package app_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
	URL string // its API, when its role has one
}

// startProcess runs the jobs binary on c with the given role; it is killed when the test
// ends if it is still running. With an API role it returns once the API answers.
func startProcess(t *testing.T, c config.Config, role string) *process {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	port := freePort(t)
	yaml := fmt.Sprintf(`Name: jobs-process
Host: 127.0.0.1
Port: %d
Timeout: %d
Log:
  Mode: console
  Level: error
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
`, port, c.Timeout, c.MySQL.DataSource, c.Redis.Addr, c.Redis.Prefix, c.Worker.Concurrency, c.Worker.Lease,
		c.Worker.Heartbeat, c.Worker.ProgressFlush, c.Worker.ClaimIdle, c.Worker.ShutdownGrace, c.Recovery.Interval,
		c.Events.HeaderTimeout)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-f", file, "-role", role)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	p := &process{Cmd: cmd}
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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
