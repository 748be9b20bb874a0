package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/jobview"
	"jobs/internal/testutil"
)

func parseTime(t *testing.T, s *string) time.Time {
	t.Helper()
	if s == nil {
		t.Fatal("time is null")
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDelayedJobStartsWithinASecondOfRunAtAndNotBefore(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	runAt := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	job := a.StartJob(map[string]any{"functionId": "echo", "runAt": runAt.Format(time.RFC3339Nano)})
	if job.Status != "pending" || job.RunAt == nil || *job.RunAt != jobview.FormatTime(runAt) {
		t.Fatalf("delayed job: %+v, want pending with runAt %s", job, jobview.FormatTime(runAt))
	}
	immediate := a.StartJob(map[string]any{"functionId": "echo"})
	if immediate.RunAt != nil {
		t.Errorf("runAt of a job without one: %q, want null", *immediate.RunAt)
	}
	var list struct{ Jobs []apptest.Job }
	if err := jsonBody(a.Do(http.MethodGet, "/api/v1/jobs?ids="+job.Id, nil), &list); err != nil || len(list.Jobs) != 1 ||
		list.Jobs[0].RunAt == nil || *list.Jobs[0].RunAt != *job.RunAt {
		t.Fatalf("delayed job in the list: %+v (%v)", list.Jobs, err)
	}

	// An entry that reaches a worker early claims nothing, and the job is not lost.
	if err := a.Svc.Queue.Add(context.Background(), job.Id); err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(time.Second, func() bool {
		n, err := a.Svc.Queue.Backlog(context.Background())
		return err == nil && n == 0
	}) {
		t.Fatal("workers never took the early entry")
	}
	if early := a.GetJob(job.Id); early.Status != "pending" || early.Attempt != 0 {
		t.Fatalf("job ran before its runAt: %+v", early)
	}

	done := a.WaitStatus(job.Id, "completed", 5*time.Second)
	started := parseTime(t, done.StartedAt)
	if started.Before(runAt) || started.Sub(runAt) > time.Second {
		t.Errorf("started at %s for runAt %s, want within 1s after it", started.Format(time.RFC3339Nano), runAt.Format(time.RFC3339Nano))
	}
	if done.Attempt != 1 {
		t.Errorf("attempts: %d, want 1", done.Attempt)
	}
}

func TestDelayedJobInThePastStartsAtOnce(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "echo", "runAt": "2020-01-01T00:00:00+02:00"})
	if job.RunAt == nil || *job.RunAt != "2019-12-31T22:00:00.000Z" {
		t.Errorf("runAt %v, want it kept in UTC", job.RunAt)
	}
	a.WaitStatus(job.Id, "completed", 5*time.Second)
}

func TestDelayedJobCancelledBeforeItStartsNeverRuns(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	runAt := time.Now().Add(700 * time.Millisecond)
	job := a.StartJob(map[string]any{"functionId": "echo", "runAt": runAt.Format(time.RFC3339Nano)})
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil)
	// A later delayed job is the signal: once it has run, the scheduler has passed runAt and
	// workers have taken whatever it enqueued before it (the stream is first in, first out).
	later := a.StartJob(map[string]any{"functionId": "echo", "runAt": runAt.Add(time.Millisecond).Format(time.RFC3339Nano)})
	a.WaitStatus(later.Id, "completed", 10*time.Second)
	if after := a.GetJob(job.Id); after.Status != "cancelled" || after.Attempt != 0 || after.StartedAt != nil {
		t.Fatalf("cancelled delayed job: %+v", after)
	}
}

func TestDelayedJobSurvivesARestart(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Role = "api" })
	api := apptest.StartApp(t, c)
	runAt := time.Now().Add(time.Second).UTC().Truncate(time.Millisecond)
	job := api.StartJob(map[string]any{"functionId": "echo", "runAt": runAt.Format(time.RFC3339Nano)})
	api.Stop(context.Background())

	c.Role = "all"
	restarted := apptest.StartApp(t, c)
	done := restarted.WaitStatus(job.Id, "completed", 5*time.Second)
	if started := parseTime(t, done.StartedAt); started.Before(runAt) {
		t.Errorf("started at %s, before its runAt %s", started, runAt)
	}
}

func TestBadRunAtIs400(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	for _, v := range []any{"tomorrow", "2026-11-21 10:00:00", 1700000000000, "0000-01-01T00:00:00Z",
		"0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00"} {
		res := a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo", "runAt": v})
		if _, msg, _ := res.Envelope(t); res.Status != http.StatusBadRequest || !strings.HasPrefix(msg, "runAt") {
			t.Errorf("runAt %v: %d %q, want 400 naming runAt", v, res.Status, msg)
		}
	}
	// The ends of the range are storable.
	for _, v := range []string{"0001-01-01T00:00:01.000Z", "9999-12-31T23:59:59.999Z"} {
		if job := a.StartJob(map[string]any{"functionId": "echo", "runAt": v}); job.RunAt == nil || *job.RunAt != v {
			t.Errorf("runAt %s: stored as %v", v, job.RunAt)
		}
	}
}
