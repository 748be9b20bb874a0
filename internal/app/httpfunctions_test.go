package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
)

func TestHTTPFunctions(t *testing.T) {
	t.Parallel()
	var flakyCalls atomic.Int64
	var gotHeader atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/ok":
			gotHeader.Store(r.Header.Get("X-Api-Key") + " " + r.Header.Get("Content-Type") + " " + r.Method)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"received": ` + string(body) + `}`))
		case "/missing":
			http.Error(w, "no such report", http.StatusNotFound)
		case "/flaky":
			if flakyCalls.Add(1) < 3 {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte(`"third time lucky"`))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/notjson":
			_, _ = w.Write([]byte("<html>"))
		case "/big":
			_, _ = w.Write([]byte("[" + strings.Repeat(`"ab",`, 12<<20/5) + `"ab"]`))
		}
	}))
	t.Cleanup(srv.Close)
	fn := func(id, path string, attempts int, timeout time.Duration) config.FunctionConf {
		return config.FunctionConf{Id: id, Kind: "http", MaxAttempts: attempts, Timeout: timeout,
			HTTP: config.HTTPConf{URL: srv.URL + path, Headers: map[string]string{"X-Api-Key": "k1"}}}
	}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(fn("ok", "/ok", 1, time.Minute), fn("missing", "/missing", 3, time.Minute),
		fn("flaky", "/flaky", 3, time.Minute), fn("slow", "/slow", 2, 300*time.Millisecond), fn("notjson", "/notjson", 3, time.Minute),
		fn("big", "/big", 3, time.Minute))))

	t.Run("2xx JSON is the result", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "ok", "params": map[string]any{"n": 1}})
		done := a.WaitStatus(job.Id, "completed", 10*time.Second)
		var result struct {
			Received struct {
				ID         string          `json:"id"`
				FunctionID string          `json:"functionId"`
				Attempt    int             `json:"attempt"`
				Params     json.RawMessage `json:"params"`
			} `json:"received"`
		}
		if err := json.Unmarshal(done.Result, &result); err != nil {
			t.Fatal(err)
		}
		r := result.Received
		if r.ID != job.Id || r.FunctionID != "ok" || r.Attempt != 1 || string(r.Params) != `{"n":1}` {
			t.Errorf("result %s", done.Result)
		}
		if h := gotHeader.Load(); h != "k1 application/json POST" {
			t.Errorf("request header, content type, method: %v", h)
		}
	})
	t.Run("4xx fails at once", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "missing"})
		failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
		if failed.Attempt != 1 || !strings.Contains(failed.Error, "HTTP 404: no such report") {
			t.Errorf("failed: attempt %d error %q", failed.Attempt, failed.Error)
		}
	})
	t.Run("5xx is retried", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "flaky"})
		done := a.WaitStatus(job.Id, "completed", 10*time.Second)
		if done.Attempt != 3 || string(done.Result) != `"third time lucky"` {
			t.Errorf("done: attempt %d result %s", done.Attempt, done.Result)
		}
	})
	t.Run("timeouts are retried", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "slow"})
		failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
		if failed.Attempt != 2 || failed.Error != "timed out after 0.3s" {
			t.Errorf("failed: attempt %d error %q", failed.Attempt, failed.Error)
		}
	})
	t.Run("a 2xx body that is not JSON fails at once", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "notjson"})
		failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
		if failed.Attempt != 1 || !strings.Contains(failed.Error, "not JSON") {
			t.Errorf("failed: attempt %d error %q", failed.Attempt, failed.Error)
		}
	})
	// 12 MB of JSON fits MEDIUMTEXT, but not (escaped) one statement under MariaDB's
	// max_allowed_packet: the write failed, the lease ran out and the job ended "worker lost".
	t.Run("a result too big to store fails at once", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "big"})
		failed := a.WaitStatus(job.Id, "failed", 10*time.Second)
		if failed.Attempt != 1 || !strings.HasSuffix(failed.Error, "over the limit of 1048576 bytes") {
			t.Errorf("failed: attempt %d error %q", failed.Attempt, failed.Error)
		}
	})
	t.Run("connection errors are retried", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		b := apptest.StartApp(t, apptest.Config(t, withFunctions(config.FunctionConf{Id: "dead", Kind: "http", MaxAttempts: 2,
			HTTP: config.HTTPConf{URL: url}})))
		job := b.StartJob(map[string]any{"functionId": "dead"})
		failed := b.WaitStatus(job.Id, "failed", 10*time.Second)
		if failed.Attempt != 2 || !strings.Contains(failed.Error, "connection refused") {
			t.Errorf("failed: attempt %d error %q", failed.Attempt, failed.Error)
		}
	})
}
