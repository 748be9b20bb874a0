package app_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/testutil"
)

// checkOutageAnswer fails unless res is an answer of a route that does not need
// dependency (below 500) or the 503 envelope naming dependency, with a Retry-After.
func checkOutageAnswer(t *testing.T, what string, res apptest.Response, dependency string) {
	t.Helper()
	if res.Status < http.StatusInternalServerError {
		return
	}
	code, msg, _ := res.Envelope(t)
	if res.Status != http.StatusServiceUnavailable || code != http.StatusServiceUnavailable || msg != dependency+" unavailable" ||
		res.Header.Get("Retry-After") == "" {
		t.Errorf("%s during the %s outage: %d %s (Retry-After %q), want 503 %q with Retry-After",
			what, dependency, res.Status, res.Body, res.Header.Get("Retry-After"), dependency+" unavailable")
	}
}

// outageBody is a valid body of route, for a route that takes one: a start's, a batch's
// jobs, the bulk routes' ids, and a schedule's id and cron (a key a route does not know is a
// 400). The other routes read none and get none.
func outageBody(route [2]string, id string) any {
	switch route[1] {
	case "/api/v1/jobs":
		if route[0] == http.MethodPost {
			return `{"functionId": "echo"}`
		}
	case "/api/v1/jobs/batch":
		return `{"jobs": [{"functionId": "echo"}]}`
	case "/api/v1/jobs/cancel", "/api/v1/jobs/rerun":
		return `{"ids": ["` + id + `"]}`
	case "/api/v1/schedules":
		if route[0] == http.MethodPost {
			return `{"functionId": "echo", "id": "` + outageSchedule + `", "cron": "@hourly"}`
		}
	}
	return nil
}

// serves reports whether a start and a list both succeed.
func serves(a *apptest.App) bool {
	start := a.Do(http.MethodPost, "/api/v1/jobs", `{"functionId": "echo"}`)
	list := a.Do(http.MethodGet, "/api/v1/jobs?size=1", nil)
	return start.Status == http.StatusOK && list.Status == http.StatusOK
}

// MySQL goes away under a running app (a proxy between them is cut): every route that
// needs it answers the 503 envelope naming it, and the service is back within 2 s of MySQL.
// The outage lasts long enough, with enough failing requests and worker queries, that a
// circuit breaker would have opened.
func TestMySQLOutageIsA503NamingItAndEndsWithIt(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	dsn, proxy := testutil.ThroughProxy(t, c.MySQL.DataSource)
	c.MySQL.DataSource = dsn
	a := apptest.StartApp(t, c)
	job := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(job.Id, "completed", 5*time.Second)

	proxy.Cut()
	failures := 0
	for round := range 10 {
		for _, route := range everyRoute(job.Id) {
			if route[1] == "/api/v1/events" {
				// The tenant's events are kept in Redis only, so their stream goes on (a Do
				// would read it until the test's end): a new one starts with its reset.
				s, status, body := a.TryStreamAt(route[1], "")
				if s == nil {
					t.Errorf("the tenant's events need no MySQL, yet: %d %s", status, body)
					continue
				}
				if ev, err := s.Next(5 * time.Second); err != nil || ev.Name != "reset" {
					t.Errorf("the tenant's events during the MySQL outage: %q %s (%v), want a reset", ev.Name, ev.Data, err)
				}
				s.Close()
				continue
			}
			res := a.Do(route[0], route[1], outageBody(route, job.Id))
			if route[1] == "/api/v1/functions" {
				if res.Status != http.StatusOK {
					t.Errorf("functions need no MySQL, yet: %d %s", res.Status, res.Body)
				}
				continue
			}
			if res.Status != http.StatusServiceUnavailable && round == 0 {
				t.Errorf("%s %s during the MySQL outage: %d %s, want 503", route[0], route[1], res.Status, res.Body)
			}
			checkOutageAnswer(t, route[0]+" "+route[1], res, "mysql")
			failures++
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	proxy.Restore()
	back := time.Now()
	if !testutil.Eventually(5*time.Second, func() bool { return serves(a) }) {
		t.Fatalf("the service did not come back within 5 s of MySQL (after %d failed requests)", failures)
	}
	if d := time.Since(back); d > 2*time.Second {
		t.Fatalf("the service came back %s after MySQL (after %d failed requests), want within 2 s", d, failures)
	}
	after := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(after.Id, "completed", 5*time.Second)
}

// Redis goes away: the streams, which need it, are 503s naming it; the other routes keep
// answering from MySQL (a start or a batch is stored, and enqueued by the sweep once Redis is back).
func TestRedisOutageIsA503NamingItAndEndsWithIt(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	proxy := testutil.NewProxy(t, c.Redis.Addr)
	c.Redis.Addr = proxy.Addr()
	a := apptest.StartApp(t, c)
	job := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(job.Id, "completed", 5*time.Second)

	proxy.Cut()
	var started []apptest.Job
	for _, route := range everyRoute(job.Id) {
		res := a.Do(route[0], route[1], outageBody(route, job.Id))
		checkOutageAnswer(t, route[0]+" "+route[1], res, "redis")
		stream := route[1] == "/api/v1/jobs/"+job.Id+"/stream" || route[1] == "/api/v1/events"
		if stream != (res.Status == http.StatusServiceUnavailable) {
			t.Errorf("%s %s during the Redis outage: %d %s, want a 503 only from a stream", route[0], route[1], res.Status, res.Body)
		}
		switch route {
		case [2]string{http.MethodPost, "/api/v1/jobs"}:
			var one apptest.Job
			res.Data(t, &one)
			started = append(started, one)
		case [2]string{http.MethodPost, "/api/v1/jobs/batch"}:
			var batch struct{ Jobs []apptest.Job }
			res.Data(t, &batch)
			started = append(started, batch.Jobs...)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	proxy.Restore()
	back := time.Now()
	if !testutil.Eventually(5*time.Second, func() bool {
		_, status, _ := a.TryStream(job.Id, "")
		events, eventsStatus, _ := a.TryStreamAt("/api/v1/events", "")
		if events != nil {
			events.Close()
		}
		return status == http.StatusOK && eventsStatus == http.StatusOK && serves(a)
	}) {
		t.Fatal("the service did not come back within 5 s of Redis")
	}
	if d := time.Since(back); d > 2*time.Second {
		t.Fatalf("the service came back %s after Redis, want within 2 s", d)
	}
	// The jobs started during the outage were kept, and run once Redis is back.
	for _, job := range started {
		a.WaitStatus(job.Id, "completed", 5*time.Second)
	}
}

// go-zero's own middleware answers some requests with a status and no body; those answers
// leave in the envelope too.
func TestGoZerosBodilessAnswersAreEnvelopes(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	gzipped := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	header := http.Header{"Content-Encoding": {"gzip"}}
	res := a.DoWith(http.MethodPost, "/api/v1/jobs", "this is not gzip", header)
	if code, msg, _ := res.Envelope(t); res.Status != http.StatusBadRequest || code != http.StatusBadRequest || msg != "request body is not valid gzip (Content-Encoding: gzip)" {
		t.Errorf("a body that is not gzip: %d %s", res.Status, res.Body)
	}
	res = a.DoWith(http.MethodPost, "/api/v1/jobs", gzipped(`{"functionId": "echo"}`), header)
	res.Data(t, nil)
}
