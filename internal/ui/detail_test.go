package ui_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/functions"
	"jobs/internal/ui"
)

// TestDashboardJobDetailShowsTheRetrysStart: a job's detail page open while its first attempt
// fails and its second starts says when the second started (the job's startedAt now), not
// the first attempt's start, and counts its running time from then.
func TestDashboardJobDetailShowsTheRetrysStart(t *testing.T) {
	failFirst := make(chan struct{})
	finish := make(chan struct{})
	flaky := &functions.Definition{ID: "flaky", Kind: "test", Timeout: time.Minute, MaxAttempts: 2, Backoff: 1500 * time.Millisecond,
		MaxBackoff: 1500 * time.Millisecond,
		Run: func(ctx context.Context, call functions.Call, _ functions.Reporter) (any, error) {
			wait := finish
			if call.Attempt == 1 {
				wait = failFirst
			}
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if call.Attempt == 1 {
				return nil, errors.New("first attempt fails")
			}
			return "ok", nil
		}}
	a := apptest.StartApp(t, apptest.Config(t), flaky)
	api := a.As(ui.DevIdentity.Tenant, "tester")
	job := api.StartJob(map[string]any{"functionId": "flaky", "name": "flaky-job"})
	first := api.WaitStatus(job.Id, "running", 10*time.Second)
	defer close(finish)

	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs/" + job.Id)
	started := func(attempt int) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#job-timeline li')].find((li) => li.textContent.startsWith('Attempt %d started'))?.querySelector('time')?.getAttribute('datetime')`, attempt)
	}
	b.waitFor("attempt 1 running, live", fmt.Sprintf(`document.getElementById('job-live').dataset.state === 'live' && %s === %q`, started(1), *first.StartedAt), 10*time.Second)

	close(failFirst)
	second := api.WaitJob(job.Id, 10*time.Second, "attempt 2 running", func(j apptest.Job) bool { return j.Status == "running" && j.Attempt == 2 })
	b.waitFor("attempt 2's start", fmt.Sprintf(`%s === %q`, started(2), *second.StartedAt), 10*time.Second)
	b.notReloaded()
}
