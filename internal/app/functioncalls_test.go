package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
)

// functionCall is the FunctionCall of API.md.
type functionCall struct {
	Id         string          `json:"id"`
	FunctionId string          `json:"functionId"`
	Status     string          `json:"status"`
	Input      json.RawMessage `json:"input"`
	Output     json.RawMessage `json:"output"`
	Error      string          `json:"error"`
	Actor      string          `json:"actor"`
	GameId     string          `json:"gameId"`
	Env        string          `json:"env"`
	CreatedAt  string          `json:"createdAt"`
	StartedAt  *string         `json:"startedAt"`
	FinishedAt *string         `json:"finishedAt"`
	DurationMs *int64          `json:"durationMs"`
}

var functionCallKeys = []string{"id", "functionId", "status", "input", "output", "error", "actor", "gameId", "env",
	"createdAt", "startedAt", "finishedAt", "durationMs"}

// decodeFunctionCall decodes one FunctionCall, checking that every field of API.md is
// present (durationMs and the times as null, not left out).
func decodeFunctionCall(t *testing.T, raw json.RawMessage) functionCall {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("function call %s: %v", raw, err)
	}
	for _, k := range functionCallKeys {
		if _, ok := fields[k]; !ok {
			t.Errorf("function call has no %q: %s", k, raw)
		}
	}
	var call functionCall
	if err := json.Unmarshal(raw, &call); err != nil {
		t.Fatal(err)
	}
	return call
}

// getFunctionCall reads GET /api/v1/function-calls/:id.
func getFunctionCall(t *testing.T, a *apptest.App, id string) functionCall {
	t.Helper()
	res := a.Do(http.MethodGet, "/api/v1/function-calls/"+id, nil)
	if _, msg, _ := res.Envelope(t); msg != "ok" {
		t.Errorf("function call message = %q, want ok", msg)
	}
	var raw json.RawMessage
	res.Data(t, &raw)
	return decodeFunctionCall(t, raw)
}

// durationBetween is finishedAt - startedAt in milliseconds, from the API's time strings.
func durationBetween(t *testing.T, started, finished *string) *int64 {
	t.Helper()
	if started == nil || finished == nil {
		return nil
	}
	s, err1 := time.Parse(time.RFC3339Nano, *started)
	f, err2 := time.Parse(time.RFC3339Nano, *finished)
	if err1 != nil || err2 != nil {
		t.Fatalf("times %q, %q: %v %v", *started, *finished, err1, err2)
	}
	ms := f.Sub(s).Milliseconds()
	return &ms
}

func eqInt64Ptr(a, b *int64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func fmtInt64Ptr(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// checkCallMatchesJob checks the mapping field by field: a FunctionCall is its job seen
// through docs/function_call.md.
func checkCallMatchesJob(t *testing.T, call functionCall, job apptest.Job) {
	t.Helper()
	check := func(field string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("job %s: function call %s = %v, want %v", job.Id, field, got, want)
		}
	}
	check("id", call.Id, job.Id)
	check("functionId", call.FunctionId, job.FunctionId)
	check("status", call.Status, job.Status)
	check("input", compactJSON(t, call.Input), compactJSON(t, job.Params))
	check("output", compactJSON(t, call.Output), compactJSON(t, job.Result))
	check("error", call.Error, job.Error)
	check("actor", call.Actor, job.Actor)
	check("gameId", call.GameId, job.GameId)
	check("env", call.Env, job.Env)
	check("createdAt", call.CreatedAt, job.CreatedAt)
	if !eqStrPtr(call.StartedAt, job.StartedAt) {
		t.Errorf("job %s: function call startedAt = %v, want %v", job.Id, call.StartedAt, job.StartedAt)
	}
	if !eqStrPtr(call.FinishedAt, job.FinishedAt) {
		t.Errorf("job %s: function call finishedAt = %v, want %v", job.Id, call.FinishedAt, job.FinishedAt)
	}
	want := durationBetween(t, job.StartedAt, job.FinishedAt)
	if job.FinishedAt == nil && call.DurationMs != nil {
		t.Errorf("job %s is %s (not finished) but durationMs = %d, want null", job.Id, job.Status, *call.DurationMs)
	}
	if !eqInt64Ptr(call.DurationMs, want) {
		t.Errorf("job %s: durationMs = %s, want %s (finishedAt - startedAt)", job.Id, fmtInt64Ptr(call.DurationMs), fmtInt64Ptr(want))
	}
	if call.DurationMs != nil && *call.DurationMs < 0 {
		t.Errorf("job %s: negative durationMs %d", job.Id, *call.DurationMs)
	}
}

func TestFunctionCallOfFinishedAndRunningJobs(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))

	echo := a.StartJob(map[string]any{"functionId": "echo", "name": "hello", "actor": "alice", "gameId": "g7", "env": "prod",
		"params": map[string]any{"n": 1.5, "s": "x", "nested": map[string]any{"list": []any{1, "two", nil}}}})
	failed := a.StartJob(map[string]any{"functionId": "fail", "actor": "bob", "params": map[string]any{"message": "disk full"}})
	running := a.StartJob(map[string]any{"functionId": "sleep", "env": "dev", "params": map[string]any{"seconds": 30}})

	echoJob := a.WaitStatus(echo.Id, "completed", 5*time.Second)
	call := getFunctionCall(t, a, echo.Id)
	checkCallMatchesJob(t, call, echoJob)
	if compactJSON(t, call.Output) != `{"n":1.5,"nested":{"list":[1,"two",null]},"s":"x"}` ||
		compactJSON(t, call.Input) != compactJSON(t, call.Output) {
		t.Errorf("echo call input %s output %s, want the params both times", call.Input, call.Output)
	}
	if call.Status != "completed" || call.DurationMs == nil || call.Error != "" {
		t.Errorf("completed echo call: %+v", call)
	}

	failedJob := a.WaitStatus(failed.Id, "failed", 5*time.Second)
	call = getFunctionCall(t, a, failed.Id)
	checkCallMatchesJob(t, call, failedJob)
	if call.Status != "failed" || call.Error != "disk full" || string(call.Output) != "null" || call.DurationMs == nil {
		t.Errorf("failed call: %+v", call)
	}

	runningJob := a.WaitJob(running.Id, 5*time.Second, "running", func(j apptest.Job) bool {
		return j.Status == "running" && j.StartedAt != nil
	})
	call = getFunctionCall(t, a, running.Id)
	checkCallMatchesJob(t, call, runningJob)
	if call.Status != "running" || call.StartedAt == nil || call.FinishedAt != nil || call.DurationMs != nil ||
		string(call.Output) != "null" {
		t.Errorf("running call: %+v", call)
	}

	var cancelled apptest.Job
	a.Do(http.MethodPost, "/api/v1/jobs/"+running.Id+"/cancel", nil).Data(t, &cancelled)
	call = getFunctionCall(t, a, running.Id)
	checkCallMatchesJob(t, call, a.GetJob(running.Id))
	if call.Status != "cancelled" || call.DurationMs == nil || call.FinishedAt == nil {
		t.Errorf("cancelled running call: %+v", call)
	}

	// The list shows the same calls, newest first.
	var list struct {
		List  []json.RawMessage `json:"list"`
		Total int64             `json:"total"`
	}
	a.Do(http.MethodGet, "/api/v1/function-calls", nil).Data(t, &list)
	if list.Total != 3 || len(list.List) != 3 {
		t.Fatalf("function-call list: %d calls, total %d", len(list.List), list.Total)
	}
	for _, raw := range list.List {
		got := decodeFunctionCall(t, raw)
		checkCallMatchesJob(t, got, a.GetJob(got.Id))
	}
}

func TestFunctionCallOfPendingJob(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))

	job := a.StartJob(map[string]any{"functionId": "echo", "actor": "carol", "gameId": "g1", "env": "dev",
		"params": map[string]any{"k": []any{"v"}}})
	call := getFunctionCall(t, a, job.Id)
	checkCallMatchesJob(t, call, a.GetJob(job.Id))
	if call.Status != "pending" || compactJSON(t, call.Input) != `{"k":["v"]}` || string(call.Output) != "null" ||
		call.StartedAt != nil || call.FinishedAt != nil || call.DurationMs != nil || call.Error != "" {
		t.Errorf("pending call: %+v", call)
	}

	noParams := a.StartJob(map[string]any{"functionId": "sleep"})
	if call := getFunctionCall(t, a, noParams.Id); string(call.Input) != "{}" {
		t.Errorf("input of a job started without params = %s, want {}", call.Input)
	}

	// Cancelled while pending: finished, but it never started, so it has no duration.
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil)
	call = getFunctionCall(t, a, job.Id)
	checkCallMatchesJob(t, call, a.GetJob(job.Id))
	if call.Status != "cancelled" || call.FinishedAt == nil || call.StartedAt != nil || call.DurationMs != nil {
		t.Errorf("call of a job cancelled while pending: %+v", call)
	}
}

// seedCall is the FunctionCall a seeded job should appear as.
func seedCall(s seeded) functionCall {
	call := functionCall{
		Id: s.Id, FunctionId: s.FunctionId, Status: s.Status, Input: json.RawMessage(s.Params),
		Output: json.RawMessage("null"), Error: s.Error, Actor: s.Actor, GameId: s.GameId, Env: s.Env,
		CreatedAt: apiTime(s.CreatedAt), StartedAt: apiTimePtr(s.StartedAt), FinishedAt: apiTimePtr(s.FinishedAt),
	}
	if s.Result != nil {
		call.Output = json.RawMessage(*s.Result)
	}
	if s.StartedAt != nil && s.FinishedAt != nil {
		ms := s.FinishedAt.Sub(*s.StartedAt).Milliseconds()
		call.DurationMs = &ms
	}
	return call
}

func TestFunctionCallListMatchesJobList(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 })
	a := apptest.StartApp(t, c)

	// Empty first: list is [] inside the envelope.
	res := a.Do(http.MethodGet, "/api/v1/function-calls", nil)
	if res.Status != http.StatusOK || string(res.Body) != `{"code":0,"message":"ok","data":{"list":[],"total":0,"totalIsEstimate":false,"page":1,"size":20}}` {
		t.Errorf("empty function-call list: %d %s", res.Status, res.Body)
	}

	jobs := seedJobs(t, a, c, 33)
	durations := 0
	for _, q := range listQueries(jobs) {
		t.Run("?"+q.Encode(), func(t *testing.T) {
			res := a.Do(http.MethodGet, "/api/v1/function-calls?"+q.Encode(), nil)
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if code, msg, _ := res.Envelope(t); code != 0 || msg != "ok" {
				t.Errorf("envelope code %d message %q, want 0 ok", code, msg)
			}
			var data map[string]json.RawMessage
			res.Data(t, &data)
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"list", "page", "size", "total", "totalIsEstimate"}) {
				t.Errorf("data keys %v, want list, page, size, total, totalIsEstimate", keys)
			}
			if string(data["list"]) == "null" {
				t.Errorf("list is null, want []")
			}
			var got struct {
				List              []json.RawMessage
				Total, Page, Size int64
			}
			res.Data(t, &got)

			all, page := seedExpect(jobs, q)
			wantPage, wantSize := seedPaging(q)
			if got.Total != int64(len(all)) || got.Page != int64(wantPage) || got.Size != int64(wantSize) {
				t.Errorf("total, page, size = %d, %d, %d; want %d, %d, %d",
					got.Total, got.Page, got.Size, len(all), wantPage, wantSize)
			}
			// Same jobs, same order as the job list with the same query.
			jobList := getJobList(t, a, q)
			if gotIds, listIds := itemIds(t, got.List), itemIds(t, jobList.Jobs); !slices.Equal(gotIds, listIds) ||
				!slices.Equal(gotIds, ids(page)) || jobList.Total != got.Total {
				t.Fatalf("function calls %v (total %d)\njob list       %v (total %d)\nwant           %v",
					gotIds, got.Total, listIds, jobList.Total, ids(page))
			}
			for i, raw := range got.List {
				call, want := decodeFunctionCall(t, raw), seedCall(page[i])
				if call.Id != want.Id || call.FunctionId != want.FunctionId || call.Status != want.Status ||
					compactJSON(t, call.Input) != string(want.Input) || compactJSON(t, call.Output) != string(want.Output) ||
					call.Error != want.Error || call.Actor != want.Actor || call.GameId != want.GameId ||
					call.Env != want.Env || call.CreatedAt != want.CreatedAt || !eqStrPtr(call.StartedAt, want.StartedAt) ||
					!eqStrPtr(call.FinishedAt, want.FinishedAt) || !eqInt64Ptr(call.DurationMs, want.DurationMs) {
					t.Errorf("call %d: %s\nwant %+v (durationMs %s)", i, raw, want, fmtInt64Ptr(want.DurationMs))
				}
				if call.DurationMs != nil {
					durations++
				}
				// The list item is the same as the call read by id.
				byID := getFunctionCall(t, a, call.Id)
				if b, _ := json.Marshal(byID); string(b) != string(mustMarshal(t, call)) {
					t.Errorf("list item and GET /function-calls/%s differ:\nlist  %s\nby id %s", call.Id, mustMarshal(t, call), b)
				}
			}
		})
	}
	if durations == 0 {
		t.Error("no call with a duration was checked")
	}

	// The view is read-only: nothing under /function-calls creates or cancels.
	id := jobs[0].Id
	for _, tc := range []struct {
		method, path string
		status       int
		message      string
	}{
		{"POST", "/api/v1/function-calls", 405, "method POST is not allowed on /api/v1/function-calls"},
		{"PUT", "/api/v1/function-calls/" + id, 405, "method PUT is not allowed on /api/v1/function-calls/" + id},
		{"DELETE", "/api/v1/function-calls/" + id, 405, "method DELETE is not allowed on /api/v1/function-calls/" + id},
		{"POST", "/api/v1/function-calls/" + id + "/cancel", 404, "no route for POST /api/v1/function-calls/" + id + "/cancel"},
	} {
		before := apiJobsTotal(t, a)
		apiCheckError(t, a.Do(tc.method, tc.path, `{"functionId": "echo"}`), tc.status, tc.message)
		if after := apiJobsTotal(t, a); after != before {
			t.Errorf("%s %s changed the job count from %d to %d", tc.method, tc.path, before, after)
		}
	}
	if got := a.GetJob(id); got.Status != jobs[0].Status {
		t.Errorf("job %s is %s after the refused writes, want %s", id, got.Status, jobs[0].Status)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
