package command

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/functions"
)

type discard struct{}

func (discard) Progress(int64, int64, string) {}
func (discard) Log(string, string)            {}

// A job whose params are over what Linux passes in one environment string (a job stored
// before its function's MaxParamsBytes applied, or its rerun) fails at once, saying why: exec
// refuses it (E2BIG) every time, and it was retried as if it could pass.
func TestParamsTooLargeToExecFailPermanently(t *testing.T) {
	t.Parallel()
	r, err := New(config.CommandConf{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 200<<10)})
	_, err = r.Run(context.Background(), functions.Call{JobID: "j", Attempt: 1, Params: params}, discard{})
	if !functions.IsPermanent(err) || !strings.Contains(err.Error(), "argument list too long") || !strings.Contains(err.Error(), "JOB_PARAMS") {
		t.Errorf("params of %d bytes: %v (permanent %v), want a permanent error naming JOB_PARAMS", len(params), err, functions.IsPermanent(err))
	}
}

// A ::result line over the line limit is a result over MaxResultBytes: the job fails saying
// so, not that its (cut) line "is not one JSON value", which sent its author hunting for a
// syntax error in valid JSON. A result of exactly MaxResultBytes, ended by \r\n, is whole.
func TestAResultTooLargeFailsSayingSo(t *testing.T) {
	t.Parallel()
	result := func(n int, end string) []string {
		return []string{"sh", "-c", fmt.Sprintf(`printf '::result ["'; head -c %d /dev/zero | tr '\0' a; printf '"]%s'`, n-4, end)}
	}
	r, err := New(config.CommandConf{Argv: result(functions.MaxResultBytes+1, `\n`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, discard{})
	if !functions.IsPermanent(err) || err.Error() != "result is over the limit of 1048576 bytes" {
		t.Errorf("error %.200v (permanent %v), want a permanent error saying the result is over the limit", err, functions.IsPermanent(err))
	}

	r, err = New(config.CommandConf{Argv: result(functions.MaxResultBytes, `\r\n`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Run(context.Background(), functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, discard{})
	if raw, _ := got.(json.RawMessage); err != nil || len(raw) != functions.MaxResultBytes {
		t.Errorf("a result of %d bytes: %d bytes, error %.200v", functions.MaxResultBytes, len(raw), err)
	}
}

// A command that ends without reading its stdin, while a process it started holds stdin
// open (a helper spawned with the parent's stdin, as Python's subprocess does by default),
// completes with what it said. Params over a pipe's buffer (64 KiB) kept the job until its
// timeout: the runner waited for stdin to be taken in full.
func TestAnUnreadStdinDoesNotHoldTheJob(t *testing.T) {
	t.Parallel()
	r, err := New(config.CommandConf{Argv: []string{"sh", "-c", `exec 3<&0; sleep 100 <&3 3<&- & echo "::result 1"`}})
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 100<<10)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := r.Run(ctx, functions.Call{JobID: "j", Attempt: 1, Params: params}, discard{})
	if raw, _ := got.(json.RawMessage); err != nil || string(raw) != "1" {
		t.Errorf("Run: %s, %v; want the result 1", raw, err)
	}
}

// Command.Env's PATH is where the program is looked up, as in the program's own
// environment: it was looked up in the service's PATH, and a program found only on the
// configured one failed every job, "executable file not found in $PATH".
func TestTheProgramIsFoundOnTheConfiguredPATH(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jobs-test-tool"), []byte("#!/bin/sh\necho '::result \"found\"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := New(config.CommandConf{Argv: []string{"jobs-test-tool"}, Env: map[string]string{"PATH": dir + ":/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Run(context.Background(), functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, discard{})
	if raw, _ := got.(json.RawMessage); err != nil || string(raw) != `"found"` {
		t.Errorf("Run: %s, %v; want the result \"found\"", raw, err)
	}
}
