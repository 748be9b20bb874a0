package app_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"jobs/internal/config"
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

// startProcess runs the jobs binary on c with the given role; it is killed when the test
// ends if it is still running.
func startProcess(t *testing.T, c config.Config, role string) *exec.Cmd {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	yaml := fmt.Sprintf(`Name: jobs-process
Host: 127.0.0.1
Port: %d
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
`, freePort(t), c.MySQL.DataSource, c.Redis.Addr, c.Redis.Prefix, c.Worker.Concurrency, c.Worker.Lease,
		c.Worker.Heartbeat, c.Worker.ProgressFlush, c.Worker.ClaimIdle, c.Worker.ShutdownGrace, c.Recovery.Interval)
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
	return cmd
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
