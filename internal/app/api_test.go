package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/apptest"
	"jobs/internal/config"
)

// apiCheckError checks that res is an API.md error: the HTTP status, a JSON body with code
// equal to the status, exactly the given message, no data, and a JSON content type.
func apiCheckError(t *testing.T, res apptest.Response, status int, message string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status = %d, want %d; body %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json; body %s", ct, res.Body)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &env); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %q", err, res.Body)
	}
	code, msg, _ := res.Envelope(t)
	if code != status {
		t.Errorf("envelope code = %d, want %d (the HTTP status); body %s", code, status, res.Body)
	}
	if msg != message {
		t.Errorf("message = %q, want %q", msg, message)
	}
	if _, ok := env["data"]; ok {
		t.Errorf("error envelope carries data: %s", res.Body)
	}
}

// apiJobsTotal returns the total of GET /api/v1/jobs (every job in the app's database).
func apiJobsTotal(t *testing.T, a *apptest.App) int64 {
	t.Helper()
	res := a.Do(http.MethodGet, "/api/v1/jobs", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list jobs: %d %s", res.Status, res.Body)
	}
	var list struct {
		Total *int64 `json:"total"`
	}
	if err := json.Unmarshal(res.Body, &list); err != nil || list.Total == nil {
		t.Fatalf("list jobs: no total in %s (%v)", res.Body, err)
	}
	return *list.Total
}

// apiSend sends req to the app and reads the whole response.
func apiSend(t *testing.T, req *http.Request) apptest.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// apiStartBody returns a valid start body for echo of exactly size bytes.
func apiStartBody(t *testing.T, size int) []byte {
	t.Helper()
	const head, tail = `{"functionId":"echo","params":{"pad":"`, `"}}`
	n := size - len(head) - len(tail)
	if n < 0 {
		t.Fatalf("body size %d too small", size)
	}
	body := []byte(head + strings.Repeat("x", n) + tail)
	if !json.Valid(body) || len(body) != size {
		t.Fatalf("bad test body of %d bytes", len(body))
	}
	return body
}

// onlyReader hides the concrete type of r, so the HTTP client cannot learn the body's length
// and sends it chunked.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestStartJobRejectsBadInput(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))
	// One good job first, so that "unchanged" is not just "still zero".
	a.StartJob(map[string]any{"functionId": "echo"})

	cases := []struct {
		name    string
		body    string
		message string
	}{
		{"truncated JSON", `{"functionId": "echo",`,
			"request body is not valid JSON: unexpected end of input"},
		{"malformed JSON", `{functionId: "echo"}`,
			"request body is not valid JSON: invalid character 'f' looking for beginning of object key string (at byte 2)"},
		{"trailing garbage", `{"functionId": "echo"} x`,
			"request body must hold a single JSON object"},
		{"trailing bracket", `{"functionId": "echo"}]`,
			"request body must hold a single JSON object"},
		{"trailing brace", `{"functionId": "echo"}}`,
			"request body must hold a single JSON object"},
		{"two objects", `{"functionId": "echo"} {"functionId": "echo"}`,
			"request body must hold a single JSON object"},
		{"empty body", ``, "request body is empty; send a JSON object"},
		{"blank body", " \n\t ", "request body is empty; send a JSON object"},
		{"JSON array", `[{"functionId": "echo"}]`, "request body must be a JSON object, not array"},
		{"JSON string", `"echo"`, "request body must be a JSON object, not string"},
		{"functionId number", `{"functionId": 7}`, "functionId must be a string, not number"},
		{"functionId object", `{"functionId": {"id": "echo"}}`, "functionId must be a string, not object"},
		{"name number", `{"functionId": "echo", "name": 5}`, "name must be a string, not number"},
		{"actor bool", `{"functionId": "echo", "actor": true}`, "actor must be a string, not bool"},
		{"params array", `{"functionId": "echo", "params": [1, 2]}`, "params must be a JSON object"},
		{"params string", `{"functionId": "echo", "params": "{}"}`, "params must be a JSON object"},
		{"params number", `{"functionId": "echo", "params": 3}`, "params must be a JSON object"},
		{"missing functionId", `{"params": {}}`, "functionId is required"},
		{"empty functionId", `{"functionId": ""}`, "functionId is required"},
		{"unknown functionId", `{"functionId": "nope"}`, `functionId "nope" is not a registered function`},
		{"functionId wrong case", `{"functionId": "Echo"}`, `functionId "Echo" is not a registered function`},
		{"name too long", `{"functionId": "echo", "name": "` + strings.Repeat("n", 256) + `"}`,
			"name is longer than 255 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := apiJobsTotal(t, a)
			res := a.Do(http.MethodPost, "/api/v1/jobs", tc.body)
			apiCheckError(t, res, http.StatusBadRequest, tc.message)
			if after := apiJobsTotal(t, a); after != before {
				t.Errorf("rejected start changed the job count from %d to %d", before, after)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) {
		c.Worker.Concurrency = 0
		c.Limits.MaxParamsBytes = 2 << 20 // the body limit alone is under test here
	})
	if c.MaxBytes != 1<<20 {
		t.Fatalf("default RestConf.MaxBytes = %d, want 1048576", c.MaxBytes)
	}
	limit := int(c.MaxBytes)
	a := apptest.StartApp(t, c)
	const tooLarge = "request body is larger than the limit of 1048576 bytes"
	url := a.URL + "/api/v1/jobs"

	newReq := func(body []byte, chunked bool) *http.Request {
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = onlyReader{r}
		}
		req, err := http.NewRequest(http.MethodPost, url, r)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.BearerToken())
		return req
	}

	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			before := apiJobsTotal(t, a)
			for _, size := range []int{limit + 1, 3 * limit} {
				res := apiSend(t, newReq(apiStartBody(t, size), chunked))
				apiCheckError(t, res, http.StatusRequestEntityTooLarge, tooLarge)
			}
			if after := apiJobsTotal(t, a); after != before {
				t.Errorf("oversized starts changed the job count from %d to %d", before, after)
			}

			// A body of exactly the limit is accepted.
			res := apiSend(t, newReq(apiStartBody(t, limit), chunked))
			var job apptest.Job
			res.Data(t, &job)
			if job.Status != "pending" || len(job.Params) < limit-100 {
				t.Errorf("job from a body at the limit: status %q, params of %d bytes", job.Status, len(job.Params))
			}
			if after := apiJobsTotal(t, a); after != before+1 {
				t.Errorf("job count after one accepted start = %d, want %d", after, before+1)
			}
		})
	}
}

func TestQueryAndIdValidation(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	id := job.Id
	unknown := uuid.NewString()
	upper := strings.ToUpper(id)
	braced := "{" + id + "}"
	const bad = "not-a-uuid"
	badID := func(s string) string { return fmt.Sprintf("id %q is not a valid job id (a lowercase UUID)", s) }
	notFound := "job " + unknown + " not found"
	pageMsg := func(s string) string { return fmt.Sprintf("page must be an integer from 1 to 2147483648, not %q", s) }
	sizeMsg := func(s string) string { return fmt.Sprintf("size must be an integer from 1 to 100, not %q", s) }
	waitMsg := func(s string) string { return fmt.Sprintf("wait must be an integer from 0 to 60, not %q", s) }
	statusMsg := `status "bogus" is not one of pending, running, completed, failed, cancelled`

	cases := []struct {
		method, path string
		status       int
		message      string
	}{
		{"GET", "/api/v1/jobs?status=bogus", 400, statusMsg},
		{"GET", "/api/v1/jobs?status=PENDING", 400, `status "PENDING" is not one of pending, running, completed, failed, cancelled`},
		{"GET", "/api/v1/jobs?page=0", 400, pageMsg("0")},
		{"GET", "/api/v1/jobs?page=-1", 400, pageMsg("-1")},
		{"GET", "/api/v1/jobs?page=abc", 400, pageMsg("abc")},
		{"GET", "/api/v1/jobs?page=1.5", 400, pageMsg("1.5")},
		{"GET", "/api/v1/jobs?size=0", 400, sizeMsg("0")},
		{"GET", "/api/v1/jobs?size=101", 400, sizeMsg("101")},
		{"GET", "/api/v1/jobs?size=1000", 400, sizeMsg("1000")},
		{"GET", "/api/v1/jobs?size=ten", 400, sizeMsg("ten")},
		{"GET", "/api/v1/function-calls?status=bogus", 400, statusMsg},
		{"GET", "/api/v1/function-calls?page=0", 400, pageMsg("0")},
		{"GET", "/api/v1/function-calls?size=101", 400, sizeMsg("101")},
		{"GET", "/api/v1/jobs/" + id + "/result?wait=61", 400, waitMsg("61")},
		{"GET", "/api/v1/jobs/" + id + "/result?wait=-1", 400, waitMsg("-1")},
		{"GET", "/api/v1/jobs/" + id + "/result?wait=soon", 400, waitMsg("soon")},

		{"GET", "/api/v1/jobs/" + bad, 400, badID(bad)},
		{"GET", "/api/v1/jobs/" + upper, 400, badID(upper)},
		{"GET", "/api/v1/jobs/" + braced, 400, badID(braced)},
		{"GET", "/api/v1/jobs/" + bad + "/result", 400, badID(bad)},
		{"POST", "/api/v1/jobs/" + bad + "/cancel", 400, badID(bad)},
		{"POST", "/api/v1/jobs/" + upper + "/cancel", 400, badID(upper)},
		{"GET", "/api/v1/jobs/" + bad + "/stream", 400, badID(bad)},
		{"GET", "/api/v1/function-calls/" + bad, 400, badID(bad)},
		{"GET", "/api/v1/function-calls/" + upper, 400, badID(upper)},

		{"GET", "/api/v1/jobs/" + unknown, 404, notFound},
		{"GET", "/api/v1/jobs/" + unknown + "/result", 404, notFound},
		{"GET", "/api/v1/jobs/" + unknown + "/result?wait=1", 404, notFound},
		{"POST", "/api/v1/jobs/" + unknown + "/cancel", 404, notFound},
		{"GET", "/api/v1/jobs/" + unknown + "/stream", 404, notFound},
		{"GET", "/api/v1/function-calls/" + unknown, 404, notFound},

		{"GET", "/api/v1/nope", 404, "no route for GET /api/v1/nope"},
		{"GET", "/nope", 404, "no route for GET /nope"}, // "/" is the dashboard
		{"POST", "/api/v1/jobs/" + id + "/retry", 404, "no route for POST /api/v1/jobs/" + id + "/retry"},
		{"DELETE", "/api/v1/jobs", 405, "method DELETE is not allowed on /api/v1/jobs"},
		{"PUT", "/api/v1/jobs/" + id, 405, "method PUT is not allowed on /api/v1/jobs/" + id},
		{"GET", "/api/v1/jobs/" + id + "/cancel", 405, "method GET is not allowed on /api/v1/jobs/" + id + "/cancel"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			start := time.Now()
			res := a.Do(tc.method, tc.path, nil)
			apiCheckError(t, res, tc.status, tc.message)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("rejection took %s", d)
			}
		})
	}

	// None of it touched the job.
	if after := a.GetJob(id); after.Status != "pending" || after.FinishedAt != nil {
		t.Errorf("job after the bad requests: %+v", after)
	}
	if n := apiJobsTotal(t, a); n != 1 {
		t.Errorf("job count = %d, want 1", n)
	}
}

func TestCancelTerminalJobConflicts(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))

	completed := a.StartJob(map[string]any{"functionId": "echo", "params": map[string]any{"k": "v"}})
	completed = a.WaitStatus(completed.Id, "completed", 5*time.Second)
	failed := a.StartJob(map[string]any{"functionId": "fail", "params": map[string]any{"message": "nope"}})
	failed = a.WaitStatus(failed.Id, "failed", 5*time.Second)

	for _, job := range []apptest.Job{completed, failed} {
		res := a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil)
		apiCheckError(t, res, http.StatusConflict, fmt.Sprintf("job %s is already %s", job.Id, job.Status))
		after := a.GetJob(job.Id)
		if after.Status != job.Status || string(after.Result) != string(job.Result) || after.Error != job.Error ||
			*after.FinishedAt != *job.FinishedAt {
			t.Errorf("refused cancel changed the job:\nbefore %+v\nafter  %+v", job, after)
		}
	}
	if string(completed.Result) != `{"k":"v"}` {
		t.Errorf("completed result = %s", completed.Result)
	}
}

func TestCancelPendingJobThenAgain(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}, "actor": "ann"})
	if job.Status != "pending" {
		t.Fatalf("new job: %+v", job)
	}

	res := a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	code, msg, _ := res.Envelope(t)
	if res.Status != http.StatusOK || code != 0 || msg != "cancelled" {
		t.Fatalf("cancel: %d code %d message %q, want 200 code 0 \"cancelled\"; body %s", res.Status, code, msg, res.Body)
	}
	var cancelled apptest.Job
	res.Data(t, &cancelled)
	if cancelled.Id != job.Id || cancelled.Status != "cancelled" || cancelled.FinishedAt == nil || cancelled.StartedAt != nil ||
		cancelled.Attempt != 0 || cancelled.Actor != "ann" || string(cancelled.Result) != "null" || cancelled.Error != "" {
		t.Fatalf("cancelled job: %+v", cancelled)
	}
	finished, err := time.Parse(time.RFC3339Nano, *cancelled.FinishedAt)
	if err != nil || !strings.HasSuffix(*cancelled.FinishedAt, "Z") {
		t.Errorf("finishedAt %q is not an RFC 3339 UTC time: %v", *cancelled.FinishedAt, err)
	} else if d := time.Since(finished); d < -time.Minute || d > time.Minute {
		t.Errorf("finishedAt %s is not about now", finished)
	}
	if got := a.GetJob(job.Id); got.Status != "cancelled" || got.FinishedAt == nil || *got.FinishedAt != *cancelled.FinishedAt {
		t.Errorf("detail after cancel: %+v", got)
	}

	again := a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil)
	apiCheckError(t, again, http.StatusConflict, fmt.Sprintf("job %s is already cancelled", job.Id))
	if got := a.GetJob(job.Id); got.Status != "cancelled" || *got.FinishedAt != *cancelled.FinishedAt {
		t.Errorf("second cancel changed the job: %+v", got)
	}
}

func TestListFunctions(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))

	res := a.Do(http.MethodGet, "/api/v1/functions", nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if _, msg, _ := res.Envelope(t); msg != "ok" {
		t.Errorf("message = %q, want ok", msg)
	}
	var raw []map[string]json.RawMessage
	res.Data(t, &raw)
	type fn struct {
		Id             string `json:"id"`
		Kind           string `json:"kind"`
		Description    string `json:"description"`
		TimeoutSeconds int64  `json:"timeoutSeconds"`
		MaxAttempts    int64  `json:"maxAttempts"`
	}
	var fns []fn
	res.Data(t, &fns)
	want := map[string]fn{
		"echo":  {Id: "echo", Kind: "builtin", TimeoutSeconds: 60, MaxAttempts: 3},
		"sleep": {Id: "sleep", Kind: "builtin", TimeoutSeconds: 3660, MaxAttempts: 3},
		"fail":  {Id: "fail", Kind: "builtin", TimeoutSeconds: 60, MaxAttempts: 1},
	}
	if len(fns) != len(want) {
		t.Fatalf("functions = %s, want echo, sleep, fail", res.Body)
	}
	for i, f := range fns {
		for _, key := range []string{"id", "kind", "description", "timeoutSeconds", "maxAttempts"} {
			if _, ok := raw[i][key]; !ok {
				t.Errorf("function %q has no %q", f.Id, key)
			}
		}
		w, ok := want[f.Id]
		if !ok {
			t.Errorf("unexpected function %+v", f)
			continue
		}
		delete(want, f.Id)
		if f.Description == "" {
			t.Errorf("function %q has no description", f.Id)
		}
		f.Description = ""
		if f != w {
			t.Errorf("function %q = %+v, want %+v", f.Id, f, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("functions missing: %v", want)
	}
}
