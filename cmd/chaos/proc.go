package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// child is a process the battery started. It runs in a process group of its own, so a
// Ctrl-C at the terminal reaches only the battery, which then stops its children in order,
// and it is SIGKILLed by the kernel if the battery itself dies (Pdeathsig).
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	err     error         // its exit status, once done is closed
	// signalled is set before the battery signals the process, so an exit it caused is
	// not reported as a crash.
	signalled atomic.Bool
}

// children are the running processes the battery started, stopped by stopChildren.
var children = struct {
	sync.Mutex
	set map[*child]struct{}
}{set: map[*child]struct{}{}}

// startChild runs argv with its output appended to logPath.
func startChild(name, logPath string, argv ...string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	children.Lock()
	children.set[c] = struct{}{}
	children.Unlock()
	go func() {
		c.err = cmd.Wait()
		children.Lock()
		delete(children.set, c)
		children.Unlock()
		close(c.done)
	}()
	return c, nil
}

// signal sends sig to the process (not its group: a dying MariaDB must not take others along).
func (c *child) signal(sig syscall.Signal) {
	c.signalled.Store(true)
	_ = c.cmd.Process.Signal(sig)
}

// kill SIGKILLs the process and waits for it to be gone.
func (c *child) kill() {
	c.signal(syscall.SIGKILL)
	<-c.done
}

// stop asks the process to exit with SIGTERM and SIGKILLs it after grace.
func (c *child) stop(grace time.Duration) {
	c.signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		c.kill()
	}
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// crashed describes an exit the battery did not cause, or returns "".
func (c *child) crashed() string {
	if !c.exited() || c.signalled.Load() {
		return ""
	}
	return fmt.Sprintf("%s exited by itself (%v); last log lines:\n%s", c.name, c.err, c.logTail(15))
}

// logTail returns the last n lines the process wrote.
func (c *child) logTail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// exitCode is the process's exit status once it has exited: 0, the code, or -1 for a signal.
func (c *child) exitCode() int {
	var exit *exec.ExitError
	switch {
	case c.err == nil:
		return 0
	case errors.As(c.err, &exit):
		return exit.ExitCode()
	default:
		return -1
	}
}

// stopChildren stops the running processes the battery started that match: SIGTERM to
// all of them, then SIGKILL to what is left after grace.
func stopChildren(match func(*child) bool, grace time.Duration) {
	children.Lock()
	running := make([]*child, 0, len(children.set))
	for c := range children.set {
		if match(c) {
			running = append(running, c)
		}
	}
	children.Unlock()
	for _, c := range running {
		c.signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, c := range running {
		select {
		case <-c.done:
		case <-time.After(time.Until(deadline)):
			c.kill()
		}
	}
}
