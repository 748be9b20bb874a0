package command

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// A command runs in a session of its own, and what it started is found by that session: a
// process that moved to a process group of its own (timeout(1), a shell's job control) is
// out of reach of a signal to the command's group, but not out of its session. Only one
// that starts a session of its own (setsid(1), a daemon) leaves. Finding a session's
// processes reads all of /proc, so it is done when the command is stopped; a command that
// exits takes its process group with it.

// stopSession sends SIGTERM to the processes of session sid, then SIGKILL after grace, and
// returns the exit of its leader, the command.
func stopSession(sid int, grace time.Duration, exited <-chan error) error {
	signalSession(sid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-exited:
		return err
	case <-timer.C:
		signalSession(sid, syscall.SIGKILL)
		return <-exited
	}
}

// endSession kills what is left of the command's process group (of its whole session sid if
// stopped), once the command is reaped, and waits up to patience until none of it remains,
// reaping the processes that are the service's children: a process whose parent died is
// re-parented to the service when the service is PID 1 (a container's entrypoint) or a
// subreaper, and nothing but the service would ever wait for it (it stayed a zombie). The
// command is reaped already, so this takes no exit status that exec.Cmd waits for.
func endSession(sid int, stopped bool, patience time.Duration) {
	deadline := time.Now().Add(patience)
	for {
		// Again each time: a process may have forked since.
		_ = syscall.Kill(-sid, syscall.SIGKILL)
		for {
			if pid, err := syscall.Wait4(-sid, nil, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
		// A group of zombies still answers: it is gone once their parents waited for them.
		left := syscall.Kill(-sid, 0) == nil
		if stopped {
			for _, pid := range sessionPids(sid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_, _ = syscall.Wait4(pid, nil, syscall.WNOHANG, nil)
				left = true
			}
		}
		if !left || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// signalSession sends sig to every process of session sid.
func signalSession(sid int, sig syscall.Signal) {
	_ = syscall.Kill(-sid, sig) // the leader's group, at once
	for _, pid := range sessionPids(sid) {
		_ = syscall.Kill(pid, sig)
	}
}

// sessionPids lists the processes of session sid, zombies included, as /proc shows them;
// none if /proc cannot be read.
func sessionPids(sid int) []int {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(strconv.Itoa(sid))
	var pids []int
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
		fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		if len(fields) > 3 && bytes.Equal(fields[3], want) {
			pids = append(pids, pid)
		}
	}
	return pids
}
