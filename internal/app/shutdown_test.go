package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"jobs/internal/apptest"
	"jobs/internal/functions"
	"jobs/internal/testutil"
)

// Not parallel: the backlog collector is one per process, so no other test's app may come
// and go meanwhile. Two apps in one process: the later one reports its own backlog; once it
// stops, the earlier one's is reported again, and once both stopped, none (no scrape reads a
// closed pool).
func TestBacklogIsReportedByTheLatestAppStillRunning(t *testing.T) {
	fn := func(id string) *functions.Definition {
		return testFunction(id, 1, time.Minute, func(context.Context, functions.Call, functions.Reporter) (any, error) { return nil, nil })
	}
	start := func(id string, jobs int) *apptest.App {
		a := apptest.StartApp(t, apptest.Config(t, noWorkers), fn(id))
		for range jobs {
			a.StartJob(map[string]any{"functionId": id})
		}
		return a
	}
	pending := func(function string) (float64, bool) {
		families, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		m := testutil.Metrics{}
		for _, f := range families {
			m[f.GetName()] = f
		}
		return m.Value("jobs_pending", "function", function)
	}
	want := func(when string, function string, value float64, present bool) {
		t.Helper()
		if got, ok := pending(function); ok != present || got != value {
			t.Fatalf("%s: jobs_pending{%s} = %v (present %v), want %v (present %v)", when, function, got, ok, value, present)
		}
	}

	first := start("backlog-first", 1)
	want("one app", "backlog-first", 1, true)
	second := start("backlog-second", 2)
	want("two apps", "backlog-second", 2, true)
	want("two apps", "backlog-first", 0, false)
	second.Stop(context.Background())
	want("the second app stopped", "backlog-second", 0, false)
	want("the second app stopped", "backlog-first", 1, true)
	first.Stop(context.Background())
	want("both apps stopped", "backlog-first", 0, false)
}
