package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/app"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// commandFunction is a command function running a script of testdata/.
func commandFunction(id, script string, args ...string) config.FunctionConf {
	return config.FunctionConf{Id: id, Kind: "command", MaxAttempts: 1,
		Command: config.CommandConf{Argv: append([]string{"./testdata/" + script}, args...)}}
}

func withFunctions(fs ...config.FunctionConf) func(*config.Config) {
	return func(c *config.Config) { c.Functions = append(c.Functions, fs...) }
}

func TestCommandFunctionSpeaksTheLineProtocol(t *testing.T) {
	t.Parallel()
	report := commandFunction("report", "report.sh", "--size", "{{params.size}}", "{{params.file}}")
	report.Command.Env = map[string]string{"SECRET": "s3"}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(report)))

	job := a.StartJob(map[string]any{"functionId": "report", "params": map[string]any{"size": 1.5, "file": "a b.txt"}})
	// Last-Event-ID 0 replays every kept event, however fast the job is.
	stream := a.OpenStream(job.Id, "0")
	done := a.WaitStatus(job.Id, "completed", 10*time.Second)

	var result struct {
		Argc    int             `json:"argc"`
		JobID   string          `json:"jobId"`
		Attempt int             `json:"attempt"`
		Params  json.RawMessage `json:"params"`
		Stdin   struct {
			ID      string          `json:"id"`
			Attempt int             `json:"attempt"`
			Params  json.RawMessage `json:"params"`
		} `json:"stdin"`
		Pwd    string `json:"pwd"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(done.Result, &result); err != nil {
		t.Fatalf("result %s: %v", done.Result, err)
	}
	if result.Argc != 3 || result.JobID != job.Id || result.Attempt != 1 || string(result.Params) != `{"file":"a b.txt","size":1.5}` ||
		result.Stdin.ID != job.Id || result.Stdin.Attempt != 1 || string(result.Stdin.Params) != string(result.Params) ||
		result.Pwd != "app" || result.Secret != "s3" {
		t.Errorf("result: %s", done.Result)
	}
	if done.Progress != 2 || done.Total != 2 || done.Message != "all done" {
		t.Errorf("progress %d/%d %q, want 2/2 \"all done\"", done.Progress, done.Total, done.Message)
	}
	want := []apptest.LogLine{{Stream: "stdout", Line: "arg: --size"}, {Stream: "stdout", Line: "arg: 1.5"}, {Stream: "stdout", Line: "arg: a b.txt"}, {Stream: "stderr", Line: "warming up"}}
	if !sameLines(done.LogTail, want) {
		t.Errorf("logTail = %+v, want %+v (in any interleaving of the streams)", done.LogTail, want)
	}
	// Every non-protocol line was also a live log event.
	var logs []string
	for _, ev := range stream.Collect(t, 10*time.Second) {
		if ev.Name == "log" {
			logs = append(logs, string(ev.Data))
		}
	}
	if len(logs) != 4 || !strings.Contains(strings.Join(logs, " "), `{"stream":"stderr","line":"warming up"}`) {
		t.Errorf("log events: %v", logs)
	}
}

// sameLines compares kept lines, allowing stdout and stderr to interleave either way.
func sameLines(got, want []apptest.LogLine) bool {
	if len(got) != len(want) {
		return false
	}
	by := func(lines []apptest.LogLine, stream string) []string {
		var out []string
		for _, l := range lines {
			if l.Stream == stream {
				out = append(out, l.Line)
			}
		}
		return out
	}
	for _, s := range []string{"stdout", "stderr"} {
		if strings.Join(by(got, s), "\n") != strings.Join(by(want, s), "\n") {
			return false
		}
	}
	return true
}

func TestCommandParamsCannotInjectFlagsOrCommands(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(commandFunction("report", "report.sh", "{{params.file}}"))))
	pwned := filepath.Join(t.TempDir(), "pwned")

	// Shell syntax arrives as one plain argument; nothing runs it.
	for _, value := range []string{"; touch " + pwned, "$(touch " + pwned + ")", "`touch " + pwned + "`", "a' && touch '" + pwned, "x | touch " + pwned} {
		job := a.StartJob(map[string]any{"functionId": "report", "params": map[string]any{"file": value}})
		done := a.WaitStatus(job.Id, "completed", 10*time.Second)
		if !sameLines(done.LogTail, []apptest.LogLine{{Stream: "stdout", Line: "arg: " + value}, {Stream: "stderr", Line: "warming up"}}) {
			t.Errorf("param %q arrived as %+v", value, done.LogTail)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a param ran a command")
	}

	// Values that would read as options or split lines, and non-scalars, are a 400.
	for value, want := range map[string]string{
		"-rf":           `params.file must not start with "-"`,
		"--output=/etc": `params.file must not start with "-"`,
		"a\nb":          "params.file must not contain control characters",
		"a\x00b":        "params.file must not contain control characters",
	} {
		res := a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "report", "params": map[string]any{"file": value}})
		if code, msg, _ := res.Envelope(t); res.Status != 400 || code != 400 || !strings.Contains(msg, want) {
			t.Errorf("param %q: %d %q, want 400 with %q", value, res.Status, msg, want)
		}
	}
	res := a.Do(http.MethodPost, "/api/v1/jobs", `{"functionId": "report", "params": {"file": ["-x"]}}`)
	if _, msg, _ := res.Envelope(t); res.Status != 400 || !strings.Contains(msg, "params.file must be a string, number or boolean") {
		t.Errorf("array param: %d %s", res.Status, msg)
	}
	// A param the argv needs is required.
	res = a.Do(http.MethodPost, "/api/v1/jobs", `{"functionId": "report", "params": {}}`)
	if _, msg, _ := res.Envelope(t); res.Status != 400 || msg != `params is missing file, required by function "report"` {
		t.Errorf("missing param: %d %s", res.Status, msg)
	}
}

// A command gets its params in JOB_PARAMS, and Linux refuses an environment string over
// 128 KiB: with Limits.MaxParamsBytes raised past that, a start of a command with larger
// params is a 413 naming params (it was stored, and every attempt failed to exec, "argument
// list too long", retried as if it could pass), in a batch too; params under it still run.
func TestCommandParamsOverTheEnvironmentLimitAreRefusedAtStart(t *testing.T) {
	t.Parallel()
	report := commandFunction("report", "report.sh")
	report.MaxAttempts = 3
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(report), func(c *config.Config) {
		c.MaxBytes, c.Limits.MaxParamsBytes = 2<<20, 1<<20
	}))
	big := map[string]any{"functionId": "report", "params": map[string]any{"pad": strings.Repeat("x", 200<<10)}}
	res := a.Do(http.MethodPost, "/api/v1/jobs", big)
	want := `params is 204810 bytes as JSON, over the limit of 131060 bytes of function "report" (a command function)`
	if code, msg, _ := res.Envelope(t); res.Status != 413 || code != 413 || !strings.HasPrefix(msg, want) {
		t.Errorf("start with 200 KiB params: %d %q, want 413 starting %q", res.Status, msg, want)
	}
	res = a.Do(http.MethodPost, "/api/v1/jobs/batch", map[string]any{"jobs": []any{map[string]any{"functionId": "report"}, big}})
	if code, msg, _ := res.Envelope(t); res.Status != 413 || code != 413 || !strings.HasPrefix(msg, "jobs[1]."+want) {
		t.Errorf("batch with 200 KiB params: %d %q, want 413 starting jobs[1].%q", res.Status, msg, want)
	}
	pad := strings.Repeat("x", 131060-len(`{"pad":""}`))
	job := a.StartJob(map[string]any{"functionId": "report", "params": map[string]any{"pad": pad}})
	if done := a.WaitStatus(job.Id, "completed", 10*time.Second); !strings.Contains(string(done.Result), pad) {
		t.Errorf("params at the limit: result %.100s…, want the params from JOB_PARAMS", done.Result)
	}
}

func TestCommandNonZeroExitFailsWithTheStderrTail(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(commandFunction("fails", "fail.sh"),
		commandFunction("badresult", "badresult.sh"))))

	job := a.StartJob(map[string]any{"functionId": "fails"})
	failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
	if !strings.HasPrefix(failed.Error, "exit status 3: ") || !strings.HasSuffix(failed.Error, "err line 30") ||
		strings.Contains(failed.Error, "err line 10\n") || !strings.Contains(failed.Error, "err line 11\n") {
		t.Errorf("error = %q, want exit status 3 and the last 20 stderr lines", failed.Error)
	}
	kept := fmt.Sprint(failed.LogTail)
	if len(failed.LogTail) != 31 || !strings.Contains(kept, "{stdout about to fail}") || !strings.Contains(kept, "{stderr err line 30}") {
		t.Errorf("logTail: %+v", failed.LogTail)
	}

	job = a.StartJob(map[string]any{"functionId": "badresult"})
	failed = a.WaitStatus(job.Id, "failed", 10*time.Second)
	if !strings.Contains(failed.Error, "::result line is not one JSON value") {
		t.Errorf("error = %q", failed.Error)
	}
}

// A program whose output is not UTF-8 (Latin-1, binary) still completes or fails with what
// it said: the invalid bytes read as U+FFFD wherever they are stored. Stored as they came, they
// made MariaDB refuse the write (utf8mb4 columns, strict mode), and the job ended "worker lost".
func TestCommandOutputThatIsNotUTF8IsStored(t *testing.T) {
	t.Parallel()
	fails := commandFunction("latin1fails", "latin1.sh", "fail")
	fails.Command.PermanentExitCodes = []int{1}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(commandFunction("latin1", "latin1.sh"), fails)))

	done := a.WaitStatus(a.StartJob(map[string]any{"functionId": "latin1"}).Id, "completed", 10*time.Second)
	var result string
	if err := json.Unmarshal(done.Result, &result); err != nil || result != "caf\uFFFD" {
		t.Errorf("result %s, want \"caf\uFFFD\"", done.Result)
	}
	if done.Message != "caf\uFFFD" {
		t.Errorf("message %q", done.Message)
	}
	failed := a.WaitStatus(a.StartJob(map[string]any{"functionId": "latin1fails"}).Id, "failed", 10*time.Second)
	if failed.Error != "exit status 1: caf\uFFFD failed" || failed.Attempt != 1 {
		t.Errorf("attempt %d error %q", failed.Attempt, failed.Error)
	}
	if !sameLines(failed.LogTail, []apptest.LogLine{{Stream: "stdout", Line: "caf\uFFFD on stdout"}, {Stream: "stderr", Line: "caf\uFFFD failed"}}) {
		t.Errorf("logTail %+v", failed.LogTail)
	}
}

func TestCommandPermanentExitCodesAreNotRetried(t *testing.T) {
	t.Parallel()
	// fail.sh exits 3.
	permanent, retried := commandFunction("permanent", "fail.sh"), commandFunction("retried", "fail.sh")
	permanent.MaxAttempts, retried.MaxAttempts = 3, 3
	permanent.Command.PermanentExitCodes = []int{2, 3}
	retried.Command.PermanentExitCodes = []int{2}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(permanent, retried)))

	for id, attempts := range map[string]int64{"permanent": 1, "retried": 3} {
		job := a.StartJob(map[string]any{"functionId": id})
		failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
		if failed.Attempt != attempts || !strings.HasPrefix(failed.Error, "exit status 3: ") {
			t.Errorf("%s: failed after %d attempts with %q, want %d attempts", id, failed.Attempt, failed.Error, attempts)
		}
	}
}

func TestCommandLogTailKeepsTheLastLines(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(commandFunction("fails", "fail.sh")),
		func(c *config.Config) { c.Worker.LogTail = 5 }))
	job := a.StartJob(map[string]any{"functionId": "fails"})
	failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
	if len(failed.LogTail) != 5 || failed.LogTail[4].Line != "err line 30" || failed.LogTail[0].Line != "err line 26" {
		t.Errorf("logTail: %+v", failed.LogTail)
	}
}

// TestCommandCancelAndTimeoutKillTheProcessGroup runs a script that ignores SIGTERM and
// leaves a child behind that ignores it too: both must be gone after a cancel, and after
// a timeout.
func TestCommandCancelAndTimeoutKillTheProcessGroup(t *testing.T) {
	t.Parallel()
	stubborn := commandFunction("stubborn", "stubborn.sh", "{{params.pidfile}}")
	stubborn.Timeout = 1500 * time.Millisecond
	stubborn.Command.KillGrace = 200 * time.Millisecond
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(stubborn)))
	dir := t.TempDir()

	pidfile := filepath.Join(dir, "cancel")
	job := a.StartJob(map[string]any{"functionId": "stubborn", "params": map[string]any{"pidfile": pidfile}})
	pids := waitPids(t, pidfile)
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil)
	waitGone(t, pids)

	pidfile = filepath.Join(dir, "timeout")
	job = a.StartJob(map[string]any{"functionId": "stubborn", "params": map[string]any{"pidfile": pidfile}})
	pids = waitPids(t, pidfile)
	failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
	if failed.Error != "timed out after 1.5s" {
		t.Errorf("error = %q", failed.Error)
	}
	waitGone(t, pids)
}

func waitPids(t *testing.T, file string) []int {
	t.Helper()
	var pids []int
	if !testutil.Eventually(10*time.Second, func() bool {
		data, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pids = nil
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("pid file %q", data)
			}
			pids = append(pids, pid)
		}
		return true
	}) {
		t.Fatalf("the script never wrote %s", file)
	}
	return pids
}

// waitGone waits until no process of pids is alive (a zombie counts as gone).
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	alive := func(pid int) bool {
		if err := syscall.Kill(pid, 0); err != nil {
			return false
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		return len(fields) == 0 || fields[0] != "Z"
	}
	if !testutil.Eventually(5*time.Second, func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("processes %v still alive", pids)
	}
}

func TestFunctionsListsConfiguredKinds(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(commandFunction("report", "report.sh", "{{params.file}}"),
		config.FunctionConf{Id: "remote", Kind: "http", Timeout: 30 * time.Second, MaxAttempts: 4,
			RequiredParams: []string{"region"}, HTTP: config.HTTPConf{URL: "https://example.com/run"}})))
	var fns []struct {
		Id             string   `json:"id"`
		Kind           string   `json:"kind"`
		TimeoutSeconds float64  `json:"timeoutSeconds"`
		MaxAttempts    int      `json:"maxAttempts"`
		RequiredParams []string `json:"requiredParams"`
	}
	a.Do(http.MethodGet, "/api/v1/functions", nil).Data(t, &fns)
	got := map[string]string{}
	for _, f := range fns {
		got[f.Id] = fmt.Sprintf("%s %gs %d %v", f.Kind, f.TimeoutSeconds, f.MaxAttempts, f.RequiredParams)
	}
	for id, want := range map[string]string{"echo": "builtin 60s 3 []", "report": "command 60s 1 [file]", "remote": "http 30s 4 [region]"} {
		if got[id] != want {
			t.Errorf("%s: %q, want %q", id, got[id], want)
		}
	}
	res := a.Do(http.MethodPost, "/api/v1/jobs", `{"functionId": "remote", "params": {"other": 1}}`)
	if _, msg, _ := res.Envelope(t); res.Status != 400 || msg != `params is missing region, required by function "remote"` {
		t.Errorf("missing required param: %d %s", res.Status, msg)
	}
}

func TestBadFunctionConfigFailsStartUp(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, withFunctions(commandFunction("ok", "report.sh"), config.FunctionConf{Id: "resize", Kind: "command"}))
	_, err := app.New(context.Background(), c)
	if err == nil || err.Error() != `Functions[1] (id "resize"): Command.Argv is required (the program and its arguments)` {
		t.Fatalf("app.New: %v", err)
	}
}

// The example function etc/jobs.yaml ships (and the README walkthrough uses) works.
func TestShippedExampleFunctionRuns(t *testing.T) {
	t.Parallel()
	var shipped config.Config
	if err := conf.Load("../../etc/jobs.yaml", &shipped); err != nil {
		t.Fatal(err)
	}
	if len(shipped.Functions) == 0 {
		t.Fatal("etc/jobs.yaml configures no function")
	}
	fns := shipped.Functions
	for i := range fns {
		fns[i].Command.Dir = "../.." // the service starts in the repository root
	}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(fns...)))
	job := a.StartJob(map[string]any{"functionId": "countdown", "params": map[string]any{"name": `Ada "the" Countess`, "steps": 1}})
	done := a.WaitStatus(job.Id, "completed", 10*time.Second)
	if string(done.Result) != `{"greeting":"hello Ada \"the\" Countess","steps":1}` || done.Progress != 1 || done.Total != 1 {
		t.Errorf("countdown: %+v", done)
	}
	// Its other output is the job's logTail, as the README's walkthrough shows it.
	wantTail := []apptest.LogLine{{Stream: "stdout", Line: "job " + job.Id + ` (attempt 1) counting down 1 for Ada "the" Countess`}}
	if !slices.Equal(done.LogTail, wantTail) {
		t.Errorf("countdown's logTail: %+v, want %+v", done.LogTail, wantTail)
	}
	// A bad steps fails at once: the script's exit 2 is permanent, another attempt is no use.
	bad := a.StartJob(map[string]any{"functionId": "countdown", "params": map[string]any{"name": "Ada", "steps": "many"}})
	if failed := a.WaitStatus(bad.Id, "failed", 10*time.Second); failed.Attempt != 1 || !strings.Contains(failed.Error, "whole number") {
		t.Errorf("countdown with a bad steps: attempt %d, error %q", failed.Attempt, failed.Error)
	}
}
