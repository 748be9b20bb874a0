package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/service"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// The only test of this package: go-zero's dev server, and so the metrics registry, is one
// per process.
//
// A user runs jobs that complete, fail and are cancelled, with callbacks that are delivered
// and given up, watches one over SSE, and lets one wait behind a busy worker; /metrics on
// the dev server then tells all of it, in the Prometheus text format.
func TestMetricsTellWhatJobsDid(t *testing.T) {
	port := testutil.FreePort(t)
	c := apptest.Config(t, func(c *config.Config) {
		c.DevServer = service.DevServerConfig{Enabled: true, Host: "127.0.0.1", Port: port, MetricsPath: "/metrics",
			HealthPath: "/healthz", EnableMetrics: true, HealthResponse: "OK"}
		c.Worker.Concurrency = 1 // one slot: a second job waits while the first runs
		// No lease may run out on a loaded machine: a reaped attempt would change every count.
		c.Worker.Lease, c.Worker.Heartbeat = time.Minute, time.Second
		c.Callbacks.AllowNetworks = []string{"127.0.0.1/32"}
		c.Callbacks.MaxAttempts = 2
	})
	a := apptest.StartApp(t, c)
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	if !testutil.Eventually(60*time.Second, func() bool { _, err := testutil.TryScrape(url); return err == nil }) {
		t.Fatalf("no metrics at %s", url)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	blocker := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3600}})
	a.WaitStatus(blocker.Id, "running", 60*time.Second)
	stream := a.OpenStream(blocker.Id, "")
	waiting := a.StartJob(map[string]any{"functionId": "echo", "callbackUrl": receiver.URL + "/up"})
	waitingSince := time.Now()

	// While the blocker runs: one running, one stream, one due job waiting, its age growing.
	var m testutil.Metrics
	want := func(name string, value float64, labels ...string) error {
		if got, ok := m.Value(name, labels...); !ok || got != value {
			return fmt.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, value)
		}
		return nil
	}
	waitFor(t, url, &m, func() error {
		for _, err := range []error{
			want("jobs_running", 1, "function", "sleep"),
			want("jobs_streams_open", 1),
			want("jobs_pending", 1, "function", "echo"),
			want("jobs_pending", 0, "function", "fail"), // registered, nothing pending
		} {
			if err != nil {
				return err
			}
		}
		if age, _ := m.Value("jobs_oldest_due_pending_age_seconds", "function", "echo"); age <= 0 || age > 600 {
			return fmt.Errorf("oldest due echo job is %vs old, want a little over 0", age)
		}
		return nil
	})

	// A job cancelled by a bulk cancel ends as one cancelled alone does.
	queued := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3600}})
	var bulk struct{ Acted int64 }
	a.Do(http.MethodPost, "/api/v1/jobs/cancel", map[string]any{"ids": []string{queued.Id}}).Data(t, &bulk)
	if bulk.Acted != 1 {
		t.Fatalf("bulk cancel acted on %d jobs, want 1", bulk.Acted)
	}

	cancelled := time.Now()
	a.Do(http.MethodPost, "/api/v1/jobs/"+blocker.Id+"/cancel", nil).Data(t, nil)
	a.WaitStatus(waiting.Id, "completed", 60*time.Second)
	minWait := cancelled.Sub(waitingSince).Seconds()
	stream.Close()
	echo := a.StartJob(map[string]any{"functionId": "echo"})
	failed := a.StartJob(map[string]any{"functionId": "fail", "callbackUrl": receiver.URL + "/down"})
	a.WaitStatus(echo.Id, "completed", 60*time.Second)
	a.WaitJob(failed.Id, 60*time.Second, "failed with its callback given up", func(j apptest.Job) bool {
		return j.Status == "failed" && j.Callback != nil && j.Callback.Status == "failed"
	})
	a.WaitJob(waiting.Id, 60*time.Second, "with its callback delivered", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "delivered"
	})

	// The backlog is cached for a few seconds, so this may take a scrape or two.
	waitFor(t, url, &m, func() error {
		for _, err := range []error{
			want("jobs_started_total", 2, "function", "echo"),
			want("jobs_started_total", 2, "function", "sleep"),
			want("jobs_started_total", 1, "function", "fail"),
			want("jobs_finished_total", 2, "function", "echo", "status", "completed"),
			want("jobs_finished_total", 1, "function", "fail", "status", "failed"),
			want("jobs_finished_total", 2, "function", "sleep", "status", "cancelled"),
			want("jobs_attempt_duration_seconds", 2, "function", "echo", "outcome", "completed"),
			want("jobs_attempt_duration_seconds", 1, "function", "fail", "outcome", "failed"),
			want("jobs_attempt_duration_seconds", 1, "function", "sleep", "outcome", "abandoned"),
			want("jobs_queue_wait_seconds", 2, "function", "echo"),
			want("jobs_queue_wait_seconds", 1, "function", "fail"),
			want("jobs_running", 0, "function", "sleep"),
			want("jobs_running", 0, "function", "echo"),
			want("jobs_streams_open", 0),
			want("jobs_pending", 0, "function", "echo"),
			want("jobs_oldest_due_pending_age_seconds", 0, "function", "echo"),
			want("jobs_callback_deliveries_total", 1, "result", "delivered"),
			want("jobs_callback_deliveries_total", 1, "result", "retry"),
			want("jobs_callback_deliveries_total", 1, "result", "failed"),
			// go-zero's own HTTP metrics, by route.
			want("http_server_requests_code_total", 5, "path", "/api/v1/jobs", "method", "POST", "code", "200"),
			want("http_server_requests_code_total", 1, "path", "/api/v1/jobs/:id/cancel", "method", "POST", "code", "200"),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if got := m.Type("jobs_attempt_duration_seconds"); got != "HISTOGRAM" {
		t.Errorf("jobs_attempt_duration_seconds is a %s, want a histogram", got)
	}
	if got := m.Type("http_server_requests_duration_ms"); got != "HISTOGRAM" {
		t.Errorf("go-zero's http_server_requests_duration_ms is %q, want a histogram", got)
	}
	// The job that waited behind the blocker waited at least until the blocker was cancelled.
	if sum := m.Sum("jobs_queue_wait_seconds", "function", "echo"); sum < minWait {
		t.Errorf("echo jobs waited %.3fs in all, want at least %.3fs", sum, minWait)
	}
	if sum := m.Sum("jobs_attempt_duration_seconds", "function", "sleep", "outcome", "abandoned"); sum < minWait {
		t.Errorf("the cancelled sleep ran %.3fs, want at least %.3fs", sum, minWait)
	}
}

// waitFor scrapes url into m until check passes, failing the test with check's last
// complaint after 60 s.
func waitFor(t *testing.T, url string, m *testutil.Metrics, check func() error) {
	t.Helper()
	var last error
	if !testutil.Eventually(60*time.Second, func() bool {
		*m = testutil.Scrape(t, url)
		last = check()
		return last == nil
	}) {
		t.Fatalf("metrics at %s: %v", url, last)
	}
}
