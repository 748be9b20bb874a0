package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"jobs/internal/testutil"
)

func TestLifecycleEchoCompletes(t *testing.T) {
	t.Parallel()
	a := testutil.StartApp(t, testutil.Config(t))

	var job testutil.Job
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
