package app_test

import (
	"net/http"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
)

type stats struct {
	Counts []struct {
		Status          string
		Count           int64
		CountIsEstimate bool
	}
	Throughput []struct {
		Minute            string
		Completed, Failed int64
	}
	Functions []struct {
		FunctionId          string
		Pending             int64
		PendingIsEstimate   bool
		OldestDueAt         *string
		OldestDueAgeSeconds float64
	}
}

func (s stats) count(status string) int64 {
	for _, c := range s.Counts {
		if c.Status == status {
			return c.Count
		}
	}
	return -1
}

func (s stats) finished() (completed, failed int64) {
	for _, m := range s.Throughput {
		completed += m.Completed
		failed += m.Failed
	}
	return completed, failed
}

func getStats(t *testing.T, a *apptest.App) stats {
	t.Helper()
	var s stats
	a.Do(http.MethodGet, "/api/v1/stats", nil).Data(t, &s)
	return s
}

func TestStatsCountFinishedJobsPerMinute(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	for _, body := range []map[string]any{{"functionId": "echo"}, {"functionId": "echo"}, {"functionId": "fail"}} {
		job := a.StartJob(body)
		a.WaitJob(job.Id, 10*time.Second, "finished", func(j apptest.Job) bool { return j.FinishedAt != nil })
	}
	s := getStats(t, a)
	if s.count("completed") != 2 || s.count("failed") != 1 || s.count("pending") != 0 {
		t.Fatalf("counts %+v", s.Counts)
	}
	if len(s.Throughput) != 60 {
		t.Fatalf("%d minutes of throughput, want 60", len(s.Throughput))
	}
	last, err := time.Parse(time.RFC3339, s.Throughput[59].Minute)
	if err != nil || time.Since(last) < 0 || time.Since(last) > 2*time.Minute {
		t.Fatalf("the last minute is %s (%v), want the current one", s.Throughput[59].Minute, err)
	}
	if completed, failed := s.finished(); completed != 2 || failed != 1 {
		t.Fatalf("throughput counts %d completed, %d failed; want 2 and 1", completed, failed)
	}
	// Read again (minutes that are over come from memory now): the same numbers.
	if completed, failed := getStats(t, a).finished(); completed != 2 || failed != 1 {
		t.Fatalf("second read: %d completed, %d failed", completed, failed)
	}
	// Another tenant's numbers are its own.
	if other := getStats(t, a.As("tenant-b", "bob")); other.count("completed") != 0 {
		t.Fatalf("tenant-b sees %+v", other.Counts)
	}
}

func TestStatsShowEachFunctionsBacklog(t *testing.T) {
	t.Parallel()
	// No workers: started jobs stay pending.
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))
	oldest := a.StartJob(map[string]any{"functionId": "sleep"})
	a.StartJob(map[string]any{"functionId": "sleep"})
	a.StartJob(map[string]any{"functionId": "echo", "runAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})

	s := getStats(t, a)
	if s.count("pending") != 3 {
		t.Fatalf("counts %+v", s.Counts)
	}
	byID := map[string]int{}
	for i, f := range s.Functions {
		byID[f.FunctionId] = i
	}
	sleep, echo := s.Functions[byID["sleep"]], s.Functions[byID["echo"]]
	if sleep.Pending != 2 || sleep.OldestDueAt == nil || *sleep.OldestDueAt != oldest.CreatedAt || sleep.OldestDueAgeSeconds < 0 {
		t.Errorf("sleep's backlog %+v, want 2 pending, the oldest due since %s", sleep, oldest.CreatedAt)
	}
	// A job due in an hour is pending but not due.
	if echo.Pending != 1 || echo.OldestDueAt != nil || echo.OldestDueAgeSeconds != 0 {
		t.Errorf("echo's backlog %+v, want 1 pending, none due", echo)
	}
	if _, ok := byID["fail"]; !ok {
		t.Errorf("functions %+v: every registered function has a row", s.Functions)
	}
}

// An admin token reads any tenant's numbers with tenant_id (its own without); an ordinary
// token may name only its own tenant, as in the lists.
func TestStatsOfATenantNamedByAnAdmin(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	t2 := a.As("t2", "bob")
	for range 2 {
		t2.StartJob(map[string]any{"functionId": "echo"})
	}
	admin := a.AsAdmin("ops", "olga")

	var s stats
	admin.Do(http.MethodGet, "/api/v1/stats?tenant_id=t2", nil).Data(t, &s)
	if n := s.count("pending"); n != 2 {
		t.Errorf("an admin's stats of t2: %d pending, want 2", n)
	}
	if n := getStats(t, admin).count("pending"); n != 0 {
		t.Errorf("an admin's stats without tenant_id: %d pending, want its own tenant's 0", n)
	}
	if n := getStats(t, t2).count("pending"); n != 2 {
		t.Errorf("t2's own stats: %d pending, want 2", n)
	}
	t2.Do(http.MethodGet, "/api/v1/stats?tenant_id=t2", nil).Data(t, &s)
	if res := a.As("t1", "al").Do(http.MethodGet, "/api/v1/stats?tenant_id=t2", nil); res.Status != http.StatusForbidden {
		t.Errorf("an ordinary token naming another tenant: %d %s, want 403", res.Status, res.Body)
	}
	if res := admin.Do(http.MethodGet, "/api/v1/stats?tenant_id=bad%20name", nil); res.Status != http.StatusBadRequest {
		t.Errorf("a malformed tenant_id: %d %s, want 400", res.Status, res.Body)
	}
}
