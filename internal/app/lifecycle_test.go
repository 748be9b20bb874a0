package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/testutil"
)

func TestLifecycleEchoCompletes(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))

	var job apptest.Job
	a.Do(http.MethodPost, "/api/v1/jobs", `{"functionId": "echo", "params": {"n": 1.50, "s": "x"},
		"name": "greeting", "actor": "alice", "gameId": "g1", "env": "dev"}`).Data(t, &job)
	if job.Status != "pending" || job.Attempt != 0 || job.StartedAt != nil || string(job.Result) != "null" {
		t.Fatalf("new job: %+v", job)
	}
	if job.Name != "greeting" || job.Actor != "alice" || job.GameId != "g1" || job.Env != "dev" || job.MaxAttempts != 3 {
		t.Fatalf("fields not kept: %+v", job)
	}
	done := a.WaitStatus(job.Id, "completed", 5*time.Second)
	if string(done.Result) != `{"n":1.50,"s":"x"}` {
		t.Errorf("echo result = %s, want the params exactly", done.Result)
	}
	if done.Attempt != 1 || done.StartedAt == nil || done.FinishedAt == nil || done.Error != "" {
		t.Errorf("completed job: %+v", done)
	}

	var result struct {
		Id, Status, Error string
		Result            json.RawMessage
		FinishedAt        *string
	}
	a.Do(http.MethodGet, "/api/v1/jobs/"+job.Id+"/result", nil).Data(t, &result)
	if result.Status != "completed" || string(result.Result) != `{"n":1.50,"s":"x"}` || result.FinishedAt == nil {
		t.Errorf("result: %+v", result)
	}
}

// The built-in sleep's seconds (README: 0..3600) are checked at start, as a command's params
// are: a 400 naming the field, rather than a job accepted only to fail.
func TestSleepRefusesSecondsOutOfRangeAtStart(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	for body, want := range map[string]string{
		`{"functionId": "sleep", "params": {"seconds": 3601}}`:  `params.seconds must be a number from 0 to 3600, not 3601 (function "sleep")`,
		`{"functionId": "sleep", "params": {"seconds": -1}}`:    `params.seconds must be a number from 0 to 3600, not -1 (function "sleep")`,
		`{"functionId": "sleep", "params": {"seconds": "ten"}}`: `params.seconds must be a number from 0 to 3600, not "ten" (function "sleep")`,
	} {
		res := a.Do(http.MethodPost, "/api/v1/jobs", body)
		if _, msg, _ := res.Envelope(t); res.Status != http.StatusBadRequest || msg != want {
			t.Errorf("%s: %d %q, want 400 %q", body, res.Status, msg, want)
		}
	}
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 0.2}})
	if done := a.WaitStatus(job.Id, "completed", 10*time.Second); string(done.Result) != `{"slept":0.2}` {
		t.Errorf("a sleep of 0.2 s: %+v", done)
	}
}

func TestFailureKeepsTheFunctionsMessage(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))

	job := a.StartJob(map[string]any{"functionId": "fail", "params": map[string]any{"message": "disk full"}})
	failed := a.WaitStatus(job.Id, "failed", 5*time.Second)
	if failed.Error != "disk full" || failed.Attempt != 1 || failed.FinishedAt == nil || string(failed.Result) != "null" {
		t.Fatalf("failed job: %+v", failed)
	}
}

// testFunction registers a function for one test.
func testFunction(id string, maxAttempts int, timeout time.Duration, run functions.RunFunc) *functions.Definition {
	return &functions.Definition{ID: id, Kind: "test", Timeout: timeout, MaxAttempts: maxAttempts, Run: run}
}

func TestRetryableErrorIsRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	flaky := testFunction("flaky", 3, time.Minute, func(_ context.Context, call functions.Call, _ functions.Reporter) (any, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("temporary glitch")
		}
		return map[string]int64{"attempt": call.Attempt}, nil
	})
	a := apptest.StartApp(t, apptest.Config(t), flaky)

	job := a.StartJob(map[string]any{"functionId": "flaky"})
	done := a.WaitStatus(job.Id, "completed", 5*time.Second)
	if done.Attempt != 2 || string(done.Result) != `{"attempt":2}` || done.Error != "" || calls.Load() != 2 {
		t.Fatalf("after one retry: %+v, calls %d", done, calls.Load())
	}
}

func TestTimeoutAndPanicFailTheAttempt(t *testing.T) {
	t.Parallel()
	slow := testFunction("slow", 1, 200*time.Millisecond, func(ctx context.Context, _ functions.Call, _ functions.Reporter) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	panics := testFunction("panics", 1, time.Minute, func(context.Context, functions.Call, functions.Reporter) (any, error) {
		panic("boom")
	})
	a := apptest.StartApp(t, apptest.Config(t), slow, panics)

	timedOut := a.WaitStatus(a.StartJob(map[string]any{"functionId": "slow"}).Id, "failed", 5*time.Second)
	if timedOut.Error != "timed out after 0.2s" {
		t.Errorf("timed-out job error = %q", timedOut.Error)
	}
	panicked := a.WaitStatus(a.StartJob(map[string]any{"functionId": "panics"}).Id, "failed", 5*time.Second)
	if panicked.Error != "function panicked: boom" {
		t.Errorf("panicked job error = %q", panicked.Error)
	}
}

func TestProgressIsVisibleWhileRunning(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))

	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3}})
	running := a.WaitJob(job.Id, 5*time.Second, "reporting progress", func(j apptest.Job) bool {
		return j.Status == "running" && j.Progress >= 1
	})
	if running.Total != 3 || running.Message == "" {
		t.Errorf("progress while running: %+v", running)
	}
	var list struct{ Jobs []apptest.Job }
	if err := json.Unmarshal(a.Do(http.MethodGet, "/api/v1/jobs", nil).Body, &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	if list.Jobs[0].Progress < 1 || list.Jobs[0].Total != 3 {
		t.Errorf("list does not show progress: %+v", list.Jobs[0])
	}
	done := a.WaitStatus(job.Id, "completed", 5*time.Second)
	if done.Progress != 3 || done.Total != 3 || done.Message != "slept 3 of 3" {
		t.Errorf("final progress: %+v", done)
	}
}

// countingFunction registers "count", which only counts its runs.
func countingFunction(runs *atomic.Int64) *functions.Definition {
	return testFunction("count", 3, time.Minute, func(context.Context, functions.Call, functions.Reporter) (any, error) {
		runs.Add(1)
		return nil, nil
	})
}

func TestCancelPendingJobNeverStarts(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	count := countingFunction(&runs)
	c := apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 })
	api := apptest.StartApp(t, c, count)
	job := api.StartJob(map[string]any{"functionId": "count"})
	var cancelled apptest.Job
	res := api.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil)
	res.Data(t, &cancelled)
	if _, msg, _ := res.Envelope(t); msg != "cancelled" || cancelled.Status != "cancelled" || cancelled.FinishedAt == nil {
		t.Fatalf("cancel: %q %+v", msg, cancelled)
	}

	// Workers come up afterwards and drain the stream, which still holds the job's entry.
	c.Worker.Concurrency = 4
	workers := apptest.StartApp(t, c, count)
	marker := workers.StartJob(map[string]any{"functionId": "echo"})
	workers.WaitStatus(marker.Id, "completed", 5*time.Second)

	after := api.GetJob(job.Id)
	if after.Status != "cancelled" || after.Attempt != 0 || after.StartedAt != nil || runs.Load() != 0 {
		t.Fatalf("cancelled pending job ran: %+v, runs %d", after, runs.Load())
	}
}

func TestCancelRunningJobStopsItsFunction(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	stopped := make(chan time.Time, 1)
	returned := make(chan struct{})
	stubborn := testFunction("stubborn", 3, time.Minute, func(ctx context.Context, _ functions.Call, r functions.Reporter) (any, error) {
		r.Progress(1, 10, "working")
		close(started)
		<-ctx.Done()
		stopped <- time.Now()
		// Returns a result anyway, late: it must be discarded.
		time.Sleep(100 * time.Millisecond)
		defer close(returned)
		return map[string]bool{"late": true}, nil
	})
	c := apptest.Config(t)
	a := apptest.StartApp(t, c, stubborn)

	job := a.StartJob(map[string]any{"functionId": "stubborn"})
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("function never started")
	}
	a.WaitStatus(job.Id, "running", 5*time.Second)

	var cancelled apptest.Job
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, &cancelled)
	cancelledAt := time.Now()
	if cancelled.Status != "cancelled" || cancelled.FinishedAt == nil {
		t.Fatalf("cancel response: %+v", cancelled)
	}
	select {
	case at := <-stopped:
		if d := at.Sub(cancelledAt); d > time.Second {
			t.Errorf("function's context done %s after cancel, want within 1s", d)
		}
	case <-time.After(time.Second):
		t.Fatal("function's context not done within 1s of cancel")
	}

	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("function never returned its late result")
	}
	if res := a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil); res.Status != http.StatusConflict {
		t.Errorf("second cancel: %d %s", res.Status, res.Body)
	}
	// Stopping the process waits for every outcome it still had to write: what is stored
	// then is final.
	a.Stop(context.Background())
	db := testutil.DB(t, c.MySQL.DataSource)
	var status string
	var result sql.NullString
	var attempt int64
	if err := db.QueryRow("SELECT `status`, `result`, `attempt` FROM `jobs` WHERE `id` = ?", job.Id).Scan(&status, &result, &attempt); err != nil {
		t.Fatal(err)
	}
	if status != "cancelled" || result.Valid || attempt != 1 {
		t.Fatalf("late result was not discarded: status %s result %v attempt %d", status, result, attempt)
	}
}

func TestDuplicateDeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	count := countingFunction(&runs)
	c := apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 })
	api := apptest.StartApp(t, c, count)
	job := api.StartJob(map[string]any{"functionId": "count"})
	// The same job id delivered five more times, as a redelivery or a re-enqueue would.
	for range 5 {
		if err := api.Svc.Queue.Add(context.Background(), job.Id); err != nil {
			t.Fatal(err)
		}
	}

	c.Worker.Concurrency = 8
	c.Worker.BatchSize = 2 // spread the duplicates over several claims
	workers := apptest.StartApp(t, c, count)
	done := workers.WaitStatus(job.Id, "completed", 5*time.Second)
	if !testutil.Eventually(5*time.Second, func() bool {
		n, err := workers.Svc.Queue.Backlog(context.Background())
		return err == nil && n == 0
	}) {
		t.Fatal("stream never drained")
	}
	if runs.Load() != 1 || done.Attempt != 1 {
		t.Fatalf("job ran %d times, attempt %d; want once", runs.Load(), done.Attempt)
	}
}

func TestResultWaitReturnsWhenTheJobEnds(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	type result struct {
		Status     string
		Result     json.RawMessage
		FinishedAt *string
	}

	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
	start := time.Now()
	var done result
	a.Do(http.MethodGet, "/api/v1/jobs/"+job.Id+"/result?wait=20", nil).Data(t, &done)
	if d := time.Since(start); done.Status != "completed" || string(done.Result) != `{"slept":1}` || d > 3*time.Second {
		t.Fatalf("after %s: %+v", d, done)
	}

	long := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 30}})
	start = time.Now()
	var running result
	a.Do(http.MethodGet, "/api/v1/jobs/"+long.Id+"/result?wait=1", nil).Data(t, &running)
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("wait=1 answered after %s", d)
	}
	if running.Status == "completed" || string(running.Result) != "null" || running.FinishedAt != nil {
		t.Errorf("unfinished job's result: %+v", running)
	}
}
