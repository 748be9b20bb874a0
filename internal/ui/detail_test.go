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
	a := apptest.StartApp(t, testConfig(t), flaky)
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

// TestDashboardJobDetailOpenedMidRunShowsEachLineOnce: a running job's detail page opened
// after it logged some lines shows each of them once (the job's kept lines and the stream's
// recent ones are the same lines), then the live ones.
func TestDashboardJobDetailOpenedMidRunShowsEachLineOnce(t *testing.T) {
	lines := make(chan string)
	a := apptest.StartApp(t, testConfig(t), talker(lines))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	job := api.StartJob(map[string]any{"functionId": "talk", "name": "midway"})
	api.WaitStatus(job.Id, "running", 10*time.Second)
	lines <- "line 1"
	lines <- "line 2"
	api.WaitJob(job.Id, 10*time.Second, "with both lines kept", func(j apptest.Job) bool { return len(j.LogTail) == 2 })

	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs/" + job.Id)
	b.waitFor("the detail, live", `document.getElementById('job-live').dataset.state === 'live'`, 10*time.Second)
	logText := `document.getElementById('job-log').textContent`
	lines <- "line 3"
	b.waitFor("line 3", logText+`.includes('line 3')`, 10*time.Second)
	if got := eval[string](b, logText); got != "line 1\nline 2\nline 3\n" {
		t.Errorf("the output shows %q, want each line once", got)
	}
	close(lines)
	b.waitFor("completed", `document.querySelector('#job-status [data-status]')?.dataset.status === 'completed'`, 20*time.Second)
	if got := eval[string](b, logText); got != "line 1\nline 2\nline 3\n" {
		t.Errorf("once the job ended the output shows %q, want each line once", got)
	}
}
