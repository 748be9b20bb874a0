package app_test

import (
	"net/http"
	"strings"
	"testing"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

func TestParamsAndBodyLimits(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) {
		c.Limits.MaxParamsBytes = 100
		c.MaxBytes = 1000
	}))
	fits := map[string]any{"s": strings.Repeat("x", 90)} // {"s":"xxx…"} is 98 bytes
	a.StartJob(map[string]any{"functionId": "echo", "params": fits})

	res := a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo", "params": map[string]any{"s": strings.Repeat("x", 93)}})
	if code, msg, _ := res.Envelope(t); res.Status != http.StatusRequestEntityTooLarge || code != 413 || !strings.HasPrefix(msg, "params") {
		t.Errorf("params over Limits.MaxParamsBytes: %d %q, want 413 naming params", res.Status, msg)
	}
	res = a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo", "name": strings.Repeat("n", 1000)})
	if code, msg, _ := res.Envelope(t); res.Status != http.StatusRequestEntityTooLarge || code != 413 || !strings.Contains(msg, "1000 bytes") {
		t.Errorf("body over MaxBytes: %d %q, want 413", res.Status, msg)
	}
}

func TestCorsLetsTheDashboardOriginCallEveryRoute(t *testing.T) {
	t.Parallel()
	const dashboard = "https://dash.example.com"
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) {
		c.Cors.AllowOrigins = []string{dashboard}
	}))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	anonymous := a.WithToken("")

	for _, route := range everyRoute(job.Id) {
		res := anonymous.DoWith(http.MethodOptions, route[1], nil, http.Header{
			"Origin":                         {dashboard},
			"Access-Control-Request-Method":  {route[0]},
			"Access-Control-Request-Headers": {"authorization,content-type,last-event-id"},
		})
		h := res.Header
		if res.Status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != dashboard ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), route[0]) {
			t.Errorf("preflight %s %s: %d %v", route[0], route[1], res.Status, h)
		}
		allowed := strings.ToLower(strings.Join(h.Values("Access-Control-Allow-Headers"), ", "))
		for _, want := range []string{"authorization", "content-type", "last-event-id"} {
			if !strings.Contains(allowed, want) {
				t.Errorf("preflight %s %s does not allow header %s: %q", route[0], route[1], want, allowed)
			}
		}
	}

	res := a.DoWith(http.MethodGet, "/api/v1/jobs/"+job.Id, nil, http.Header{"Origin": {dashboard}})
	if res.Status != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != dashboard {
		t.Errorf("CORS GET: %d, Access-Control-Allow-Origin %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
	// The page can read why a request failed, too.
	res = anonymous.DoWith(http.MethodGet, "/api/v1/jobs", nil, http.Header{"Origin": {dashboard}})
	if res.Status != http.StatusUnauthorized || res.Header.Get("Access-Control-Allow-Origin") != dashboard {
		t.Errorf("CORS 401: %d, Access-Control-Allow-Origin %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
	// Routing errors stay JSON envelopes with CORS on.
	if res := a.Do(http.MethodDelete, "/api/v1/jobs", nil); res.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/v1/jobs: %d %s, want 405", res.Status, res.Body)
	} else if code, _, _ := res.Envelope(t); code != http.StatusMethodNotAllowed {
		t.Errorf("405 envelope code %d", code)
	}
	if res := a.Do(http.MethodGet, "/api/v1/nowhere", nil); res.Status != http.StatusNotFound {
		t.Errorf("unknown route: %d %s, want 404", res.Status, res.Body)
	} else {
		res.Envelope(t)
	}
	// Other origins get no CORS headers, so browsers keep their pages out.
	res = a.DoWith(http.MethodGet, "/api/v1/jobs/"+job.Id, nil, http.Header{"Origin": {"https://evil.example.org"}})
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("a foreign origin was allowed: %q", got)
	}
}

func TestNoCorsHeadersUnlessConfigured(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	res := a.DoWith(http.MethodGet, "/api/v1/functions", nil, http.Header{"Origin": {"https://dash.example.com"}})
	if res.Status != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("default config: %d, Access-Control-Allow-Origin %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
}

// A job with params of the largest Limits.MaxParamsBytes allowed, every byte of them one the
// driver escapes (their INSERT twice as long), is stored: MySQL takes it under its
// max_allowed_packet (16 MiB, MariaDB's default). At the 16 MiB the config allowed before,
// such a start was a 503 "mysql unavailable".
func TestLargestParamsAllowedAreStored(t *testing.T) {
	t.Parallel()
	const limit = config.MaxParamsLimit
	c := apptest.Config(t, noWorkers, func(c *config.Config) {
		c.Mode = "dev" // Check refuses the tests' development secrets otherwise
		c.Limits.MaxParamsBytes, c.MaxBytes = limit, 2*limit
	})
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	a := apptest.StartApp(t, c)
	// {"q":"\"\"…"}: each quote is \" as JSON, two bytes the driver escapes to four.
	quotes := strings.Repeat(`"`, (limit-len(`{"q":""}`))/2)
	res := a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo", "params": map[string]any{"q": quotes}})
	if res.Status != http.StatusOK {
		code, msg, _ := res.Envelope(t)
		t.Fatalf("start with params of %d bytes, all escaped: %d %d %q", limit, res.Status, code, msg)
	}
	db := testutil.DB(t, c.MySQL.DataSource)
	if got := testutil.Query[int](t, db, "select length(params) from jobs"); got < limit-1 {
		t.Errorf("params stored in %d bytes, want %d", got, limit-1)
	}
}
