package command

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/functions"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (not in package syscall).
const prSetChildSubreaper = 36

// groupReporter keeps the first progress count, and closes started then: the scripts of the
// tests report a pid with it.
type groupReporter struct {
	pgid    atomic.Int64
	started chan struct{}
}

func (g *groupReporter) Progress(done, _ int64, _ string) {
	if g.pgid.CompareAndSwap(0, done) {
		close(g.started)
	}
}
func (*groupReporter) Log(string, string) {}

// ownInGroup lists this process's children (zombies included) in process group pgid.
func ownInGroup(pgid int64) []string {
	var found []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		// After "pid (comm) ": state, ppid, pgrp, ...
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[1] == strconv.Itoa(os.Getpid()) && f[2] == strconv.FormatInt(pgid, 10) {
			found = append(found, path+" state "+f[0])
		}
	}
	return found
}

// The service is PID 1 of its container (deploy/Dockerfile's entrypoint), so the processes a
// command leaves behind become its children once their parent dies: killed with the group,
// they stayed zombies for good, one or more per cancelled, timed-out or background-leaving
// job, until the container ran out of pids. Run reaps them before it returns. A subreaper
// stands in for PID 1 here.
func TestNoZombiesAreLeftWhenTheServiceIsTheirReaper(t *testing.T) {
	t.Parallel()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	for name, tc := range map[string]struct {
		script string
		cancel bool
	}{
		"cancelled":                   {script: `sleep 100 & sleep 100 & echo "::progress $$"; wait`, cancel: true},
		"exited, leaving a child":     {script: `sleep 100 & echo "::progress $$"; echo "::result 1"`},
		"cancelled, ignoring SIGTERM": {script: `trap '' TERM; sleep 100 & echo "::progress $$"; wait; wait`, cancel: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := New(config.CommandConf{Argv: []string{"sh", "-c", tc.script}, KillGrace: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			report := &groupReporter{started: make(chan struct{})}
			if tc.cancel {
				go func() {
					<-report.started
					cancel()
				}()
			}
			if _, err := r.Run(ctx, functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, report); tc.cancel != (err != nil) {
				t.Fatalf("Run: %v", err)
			}
			if left := ownInGroup(report.pgid.Load()); len(left) > 0 {
				t.Errorf("after Run, processes of the job's group %d are still the service's children: %v", report.pgid.Load(), left)
			}
		})
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int64) bool {
	b, err := os.ReadFile("/proc/" + strconv.FormatInt(pid, 10) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(strings.TrimSpace(s[strings.LastIndexByte(s, ')')+1:]), "Z")
}

// pgrp is the process group of process pid, 0 if it is gone.
func pgrp(pid int64) int64 {
	b, err := os.ReadFile("/proc/" + strconv.FormatInt(pid, 10) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, _ := strconv.ParseInt(f[2], 10, 64)
	return n
}

// timeout(1) puts itself and its command in a process group of their own (so does a shell
// with job control): a cancel or a timeout stops them too. They were out of reach of the
// signals to the command's group, and a cancelled job's work ran on.
func TestProcessesInGroupsOfTheirOwnAreStopped(t *testing.T) {
	t.Parallel()
	for name, script := range map[string]string{
		"timeout(1)":            `timeout 100 sleep 100 & echo "::progress $!"; wait`,
		"a shell's job control": `set -m; sleep 100 & echo "::progress $!"; wait`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := New(config.CommandConf{Argv: []string{"bash", "-c", script}, KillGrace: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			report := &groupReporter{started: make(chan struct{})}
			go func() {
				<-report.started
				// Once it is in a group of its own.
				pid, giveUp := report.pgid.Load(), time.Now().Add(10*time.Second)
				for pgrp(pid) != pid && alive(pid) && time.Now().Before(giveUp) {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			if _, err := r.Run(ctx, functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, report); err == nil {
				t.Fatal("Run: no error after a cancel")
			}
			if pid := report.pgid.Load(); alive(pid) {
				t.Errorf("process %d, in a group of its own, still runs after the cancelled Run returned", pid)
			}
		})
	}
}

// A command that said its result and exited in time completes, even if the job's time runs
// out while the runner still waits for a process it left behind to let go of its output
// (one in a group of its own keeps it for up to pipeDrain): it failed "timed out" and ran
// again.
func TestACommandThatExitedInTimeCompletes(t *testing.T) {
	t.Parallel()
	r, err := New(config.CommandConf{Argv: []string{"bash", "-c", `set -m; sleep 3 & echo "::result 1"`}})
	if err != nil {
		t.Fatal(err)
	}
	// Within pipeDrain (2 s) of the exit, which comes well before.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	got, err := r.Run(ctx, functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, discard{})
	if raw, _ := got.(json.RawMessage); err != nil || string(raw) != "1" {
		t.Errorf("Run: %s, %v; want the result 1", raw, err)
	}
}
