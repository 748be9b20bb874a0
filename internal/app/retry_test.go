package app_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
)

// TestRetriesWaitTheirBackoffAsPendingJobs fails a job twice: between attempts it is
// pending with its next run time, attempt and error visible, and each retry starts no
// earlier than half its backoff (the jitter keeps the upper half).
func TestRetriesWaitTheirBackoffAsPendingJobs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var starts []time.Time
	flaky := testFunction("flaky", 3, time.Minute, func(_ context.Context, call functions.Call, _ functions.Reporter) (any, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		if call.Attempt < 3 {
			return nil, errors.New("glitch " + string(rune('0'+call.Attempt)))
		}
		return "ok", nil
	})
	flaky.Backoff, flaky.MaxBackoff = 400*time.Millisecond, time.Second
	a := apptest.StartApp(t, apptest.Config(t), flaky)

	job := a.StartJob(map[string]any{"functionId": "flaky"})
	waiting := a.WaitJob(job.Id, 5*time.Second, "waiting for its retry", func(j apptest.Job) bool {
		return j.Status == "pending" && j.Attempt == 1
	})
	if waiting.Error != "glitch 1" || waiting.RunAt == nil {
		t.Fatalf("between attempts: %+v", waiting)
	}
	runAt, err := time.Parse(time.RFC3339Nano, *waiting.RunAt)
	if err != nil {
		t.Fatal(err)
	}
	// Polled, so seen up to a poll late: only the upper bound is exact.
	if d := time.Until(runAt); d > 400*time.Millisecond {
		t.Errorf("next run in %s, want within the first backoff (200..400ms from the failure)", d)
	}
	done := a.WaitStatus(job.Id, "completed", 10*time.Second)
	if done.Attempt != 3 || string(done.Result) != `"ok"` || done.Error != "" {
		t.Fatalf("done: %+v", done)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := starts[1].Sub(starts[0]); gap < 200*time.Millisecond {
		t.Errorf("first retry after %s, want at least 200ms", gap)
	}
	if gap := starts[2].Sub(starts[1]); gap < 400*time.Millisecond {
		t.Errorf("second retry after %s, want at least 400ms", gap)
	}
}

func TestPerJobMaxAttemptsAndTimeout(t *testing.T) {
	t.Parallel()
	always := testFunction("always", 1, time.Minute, func(context.Context, functions.Call, functions.Reporter) (any, error) {
		return nil, errors.New("nope")
	})
	sleeper := config.FunctionConf{Id: "sleeper", Kind: "command", MaxAttempts: 2, Timeout: time.Minute,
		Command: config.CommandConf{Argv: []string{"sleep", "30"}, KillGrace: 100 * time.Millisecond}}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(sleeper)), always)

	job := a.StartJob(map[string]any{"functionId": "always", "maxAttempts": 3})
	if job.MaxAttempts != 3 {
		t.Fatalf("maxAttempts = %d", job.MaxAttempts)
	}
	failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
	if failed.Attempt != 3 || failed.Error != "nope" {
		t.Errorf("failed: %+v", failed)
	}

	job = a.StartJob(map[string]any{"functionId": "sleeper", "timeoutSeconds": 1})
	if job.TimeoutSeconds != 1 {
		t.Fatalf("timeoutSeconds = %g", job.TimeoutSeconds)
	}
	failed = a.WaitStatus(job.Id, "failed", 15*time.Second)
	if failed.Attempt != 2 || failed.Error != "timed out after 1s" {
		t.Errorf("failed: %+v", failed)
	}
	// The first attempt timed out and was retried: its status event says so (the pending
	// spell between the attempts is too short to catch by polling on a busy machine).
	evs, err := a.Svc.Events.Range(context.Background(), job.Id, 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	retried := false
	for _, ev := range evs {
		retried = retried || ev.Name == "status" && string(ev.Data) == `{"status":"pending","attempt":1,"error":"timed out after 1s"}`
	}
	if !retried {
		t.Errorf("no retry after the first attempt's timeout among the job's events %+v", evs)
	}
	if a.GetJob(a.StartJob(map[string]any{"functionId": "sleeper"}).Id).TimeoutSeconds != 60 {
		t.Error("a job without timeoutSeconds does not show its function's")
	}

	for body, want := range map[string]string{
		`{"functionId": "always", "maxAttempts": -1}`:           "maxAttempts must be from 1 to 20, not -1",
		`{"functionId": "always", "maxAttempts": 21}`:           "maxAttempts must be from 1 to 20, not 21",
		`{"functionId": "always", "timeoutSeconds": 86401}`:     "timeoutSeconds must be from 1 to 86400, not 86401",
		`{"functionId": "always", "timeoutSeconds": "a while"}`: "timeoutSeconds",
	} {
		res := a.Do(http.MethodPost, "/api/v1/jobs", body)
		if _, msg, _ := res.Envelope(t); res.Status != 400 || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %q, want 400 with %q", body, res.Status, msg, want)
		}
	}
}
