package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
)

// A rolling deploy that adds a function: API pods on the new config accept its jobs while
// workers on the old one still read the stream. The old worker that claims such a job first
// hands it back, without using up an attempt (the function allows one), and a worker that
// has the function runs it. A job cancelled while handed back is cancelled for good.
func TestAJobOfANewFunctionWaitsForAWorkerThatHasIt(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Role = "api" })
	var calls atomic.Int64
	added := testFunction("added", 1, time.Minute, func(_ context.Context, call functions.Call, _ functions.Reporter) (any, error) {
		calls.Add(1)
		return map[string]int64{"attempt": call.Attempt}, nil
	})
	api := apptest.StartApp(t, c, added)
	workers := c
	workers.Role = "worker"
	apptest.StartApp(t, workers) // an old worker: no "added"

	job := api.StartJob(map[string]any{"functionId": "added"})
	cancelled := api.StartJob(map[string]any{"functionId": "added"})
	for _, id := range []string{job.Id, cancelled.Id} {
		handed := api.WaitJob(id, 15*time.Second, "handed back or failed", func(j apptest.Job) bool {
			return j.Status == "failed" || j.Status == "pending" && j.Error != ""
		})
		if handed.Status != "pending" || handed.Attempt != 0 || !strings.Contains(handed.Error, `function "added" is not registered on worker`) {
			t.Fatalf("job claimed by a worker without its function: %+v, want pending again at attempt 0, saying why", handed)
		}
	}
	var answer apptest.Job
	api.Do(http.MethodPost, "/api/v1/jobs/"+cancelled.Id+"/cancel", nil).Data(t, &answer)
	if answer.Status != "cancelled" {
		t.Fatalf("cancel of a handed-back job answered %+v", answer)
	}

	apptest.StartApp(t, workers, added) // a new worker, beside the old one
	done := api.WaitStatus(job.Id, "completed", 2*time.Minute)
	if done.Attempt != 1 || string(done.Result) != `{"attempt":1}` || done.Error != "" {
		t.Fatalf("job run by a worker with its function: %+v, want completed at attempt 1", done)
	}
	if got := api.GetJob(cancelled.Id); got.Status != "cancelled" || calls.Load() != 1 {
		t.Fatalf("a job cancelled while handed back is now %s, and the function ran %d times (want once)", got.Status, calls.Load())
	}
}

// A function no worker has (removed from the config while jobs of it were pending, or a
// deploy that never finished) fails its jobs once workers have handed them back for
// Worker.UnknownFunctionGrace, saying so; the job's stream shows each hand-back.
func TestAJobOfAFunctionNoWorkerHasFailsAfterTheGrace(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Role = "api" })
	removed := testFunction("removed", 3, time.Minute, func(context.Context, functions.Call, functions.Reporter) (any, error) {
		return nil, nil
	})
	api := apptest.StartApp(t, c, removed)
	workers := c
	workers.Role = "worker"
	workers.Worker.UnknownFunctionGrace = time.Second
	apptest.StartApp(t, workers)

	job := api.StartJob(map[string]any{"functionId": "removed"})
	s := api.OpenStream(job.Id, "")

	var statuses []string
	handedBack := false
	for _, ev := range s.Collect(t, 30*time.Second) {
		if ev.Name != "status" {
			continue
		}
		st := decode[apptest.Job](t, ev.Data)
		statuses = append(statuses, st.Status)
		if st.Status == "pending" && strings.Contains(st.Error, "is not registered on worker") {
			handedBack = true
		}
	}
	if !handedBack {
		t.Fatalf("the job's stream has no status event of its hand-back: statuses %v", statuses)
	}
	failed := api.GetJob(job.Id)
	want := `no worker has function "removed" registered: workers without it handed the job back for 1s`
	if failed.Status != "failed" || !strings.Contains(failed.Error, want) || failed.Attempt != 1 {
		t.Fatalf("job of a function no worker has: %+v, want failed at attempt 1 with %q", failed, want)
	}
}
