package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"jobs/client"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/events"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

// watching is a Watch running on its own goroutine; its events arrive on a channel.
type watching struct {
	events chan client.Event
	done   chan struct{}
	job    *client.JobDetail // once done
	err    error
}

func startWatch(ctx context.Context, c *client.Client, id string) *watching {
	w := &watching{events: make(chan client.Event, 1000), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.job, w.err = c.Watch(ctx, id, func(ev client.Event) error {
			w.events <- ev
			return nil
		})
	}()
	return w
}

// until reads events until one satisfies cond, and returns them all.
func (w *watching) until(t *testing.T, what string, cond func(client.Event) bool) []client.Event {
	t.Helper()
	var evs []client.Event
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-w.events:
			evs = append(evs, ev)
			if cond(ev) {
				return evs
			}
		case <-w.done:
			t.Fatalf("watch ended (%v) before %s; events: %s", w.err, what, describe(evs))
		case <-timeout:
			t.Fatalf("no %s within 20s; events: %s", what, describe(evs))
		}
	}
}

// finish waits for Watch to return and returns the events it delivered meanwhile.
func (w *watching) finish(t *testing.T) []client.Event {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not end within 20s")
	}
	var evs []client.Event
	for {
		select {
		case ev := <-w.events:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

func isProgress(n int64) func(client.Event) bool {
	return func(ev client.Event) bool {
		p, ok := ev.(*client.ProgressEvent)
		return ok && p.Progress == n
	}
}

func isSnapshot(ev client.Event) bool { _, ok := ev.(*client.SnapshotEvent); return ok }

func eventName(ev client.Event) string {
	switch ev.(type) {
	case *client.SnapshotEvent:
		return events.Snapshot
	case *client.StatusEvent:
		return events.Status
	case *client.ProgressEvent:
		return events.Progress
	case *client.LogEvent:
		return events.Log
	case *client.DoneEvent:
		return events.Done
	case *client.ResetEvent:
		return events.Reset
	}
	return fmt.Sprintf("%T", ev)
}

func describe(evs []client.Event) string {
	parts := make([]string, len(evs))
	for i, ev := range evs {
		parts[i] = fmt.Sprintf("%d:%s", ev.EventID(), eventName(ev))
	}
	return strings.Join(parts, " ")
}

// checkAgainstLog fails unless evs is one snapshot followed by exactly the job's events
// after it as the service logged them: same numbers, names and order, none missing or
// repeated, ending with done.
func (b *testBundle) checkAgainstLog(t *testing.T, jobID string, evs []client.Event) {
	t.Helper()
	if len(evs) < 2 || !isSnapshot(evs[0]) {
		t.Fatalf("events do not start with a snapshot: %s", describe(evs))
	}
	if _, ok := evs[len(evs)-1].(*client.DoneEvent); !ok {
		t.Fatalf("events do not end with done: %s", describe(evs))
	}
	// The stream may send done before the service has logged it; wait for the log to catch up.
	var log []events.Event
	ok := waitFor(10*time.Second, func() bool {
		var err error
		log, err = b.app.Svc.Events.Range(context.Background(), jobID, evs[0].EventID(), 1<<62)
		return err == nil && len(log) > 0 && log[len(log)-1].Name == events.Done
	})
	if !ok {
		t.Fatalf("the job's done event was never logged; log: %v", log)
	}
	got := evs[1:]
	want := make([]string, len(log))
	for i, ev := range log {
		want[i] = fmt.Sprintf("%d:%s", ev.ID, ev.Name)
	}
	if describe(got) != strings.Join(want, " ") {
		t.Fatalf("after the snapshot the watch delivered\n  %s\nthe service logged\n  %s", describe(got), strings.Join(want, " "))
	}
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// logged waits until the job's event log holds a progress event of n.
func (b *testBundle) logged(t *testing.T, jobID string, n int64) {
	t.Helper()
	want := fmt.Sprintf(`"progress":%d,`, n)
	if !waitFor(10*time.Second, func() bool {
		log, err := b.app.Svc.Events.Range(context.Background(), jobID, 0, 1<<62)
		if err != nil {
			return false
		}
		for _, ev := range log {
			if ev.Name == events.Progress && strings.Contains(string(ev.Data), want) {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("progress %d was never logged", n)
	}
}

// proxiedWatch is a Watch of a stepper job through a fault proxy.
type proxiedWatch struct {
	*watching
	proxy *faultProxy
	jobID string
	evs   []client.Event // delivered up to the snapshot
}

// watchThroughProxy starts a stepper job of steps steps and watches it through a fault proxy
// with a client that tune adjusts (if not nil); it returns once the snapshot has arrived.
func (b *testBundle) watchThroughProxy(t *testing.T, steps int, tune func(*client.Client)) *proxiedWatch {
	t.Helper()
	p := newFaultProxy(t, b.app.URL)
	c := newClient(t, p.URL(), b.app.BearerToken())
	if tune != nil {
		tune(c)
	}
	job := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": steps}})
	w := startWatch(b.ctx, c, job.ID)
	return &proxiedWatch{watching: w, proxy: p, jobID: job.ID, evs: w.until(t, "the snapshot", isSnapshot)}
}

func TestWatchDeliversEveryEventUntilDone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 3}})
	w := startWatch(b.ctx, b.c, job.ID)
	evs := w.until(t, "the snapshot", isSnapshot)
	if snap := evs[0].(*client.SnapshotEvent); snap.Job.ID != job.ID || snap.Job.FunctionID != "stepper" {
		t.Fatalf("snapshot: %+v", snap)
	}
	b.step(t, 3)
	evs = append(evs, w.finish(t)...)
	if w.err != nil {
		t.Fatal(w.err)
	}
	b.checkAgainstLog(t, job.ID, evs)

	var progress, logs []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case *client.ProgressEvent:
			progress = append(progress, fmt.Sprintf("%d/%d %s", e.Progress, e.Total, e.Message))
		case *client.LogEvent:
			logs = append(logs, e.Stream+" "+e.Line)
		case *client.StatusEvent:
			if e.Status != client.StatusRunning && e.Status != client.StatusCompleted || e.Attempt != 1 {
				t.Errorf("status event %+v", e)
			}
		}
	}
	if got := strings.Join(progress, ", "); got != "1/3 step 1, 2/3 step 2, 3/3 step 3" {
		t.Errorf("progress: %s", got)
	}
	if got := strings.Join(logs, ", "); got != "stdout line 1, stdout line 2, stdout line 3" {
		t.Errorf("logs: %s", got)
	}
	done := evs[len(evs)-1].(*client.DoneEvent)
	if done.Job.Status != client.StatusCompleted || string(done.Job.Result) != `{"steps":3}` || done.Job.FinishedAt == nil {
		t.Fatalf("done: %+v", done.Job)
	}
	if w.job == nil || w.job.ID != job.ID || w.job.Status != client.StatusCompleted || string(w.job.Result) != `{"steps":3}` {
		t.Fatalf("Watch returned %+v", w.job)
	}
}

func TestWatchResumesAcrossDroppedConnectionsWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pw := b.watchThroughProxy(t, 6, nil)
	w, p, evs := pw.watching, pw.proxy, pw.evs

	b.step(t, 2)
	evs = append(evs, w.until(t, "progress 2", isProgress(2))...)
	// Cut mid-stream, and keep the watch from reconnecting while the job goes on.
	p.holdNew()
	p.cut()
	b.step(t, 2)
	b.logged(t, pw.jobID, 4)
	p.release()
	evs = append(evs, w.until(t, "progress 4", isProgress(4))...)

	// Once more, and let it reconnect at once this time. The job ends only once the new
	// connection has delivered a step: a resume that races the job's end can get a done
	// numbered before the logged status event (the service's race, not the client's).
	p.cut()
	b.step(t, 1)
	evs = append(evs, w.until(t, "progress 5", isProgress(5))...)
	b.step(t, 1)
	evs = append(evs, w.finish(t)...)
	if w.err != nil {
		t.Fatal(w.err)
	}
	if n := len(p.connections()); n < 3 {
		t.Fatalf("%d connections: the stream was not cut twice", n)
	}
	b.checkAgainstLog(t, pw.jobID, evs)
	if w.job.Status != client.StatusCompleted || string(w.job.Result) != `{"steps":6}` {
		t.Fatalf("Watch returned %+v", w.job)
	}
}

func TestWatchFollowsAServiceThatLostTheJobsEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pw := b.watchThroughProxy(t, 4, nil)
	w, p, evs := pw.watching, pw.proxy, pw.evs
	b.step(t, 2)
	evs = append(evs, w.until(t, "progress 2", isProgress(2))...)

	// While the watch is away, Redis loses the job's events and their numbering.
	p.holdNew()
	p.cut()
	b.app.WaitJob(pw.jobID, 10*time.Second, "at progress 2 in MySQL", func(j apptest.Job) bool { return j.Progress == 2 })
	keys := rediskeys.New(b.app.Config.Redis.Prefix)
	if err := testutil.Redis(t).Del(b.ctx, keys.JobEventLog(pw.jobID), keys.JobEventSeq(pw.jobID)).Err(); err != nil {
		t.Fatal(err)
	}
	p.release()
	// The service numbers afresh: the resume's snapshot stands for what was lost.
	again := w.until(t, "a second snapshot", isSnapshot)
	evs = append(evs, again...)
	snap := again[len(again)-1].(*client.SnapshotEvent)
	if snap.Job.Progress != 2 || snap.EventID() >= evs[0].EventID()+4 {
		t.Fatalf("the second snapshot: %d, %+v", snap.EventID(), snap.Job)
	}
	b.step(t, 2)
	rest := append(again[len(again)-1:], w.finish(t)...)
	if w.err != nil {
		t.Fatal(w.err)
	}
	b.checkAgainstLog(t, pw.jobID, rest)
	if w.job.Status != client.StatusCompleted || string(w.job.Result) != `{"steps":4}` {
		t.Fatalf("Watch returned %+v", w.job)
	}
}

// Redis loses the job's events while the watch is connected: the service numbers the next
// ones from 1 again, after a reset (lost). The watch used to drop the reset and every event
// numbered at or below the last it had seen, so it missed progress 3 silently.
func TestWatchFollowsARenumberingOnAnOpenStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 4}})
	w := startWatch(b.ctx, b.c, job.ID)
	w.until(t, "the snapshot", isSnapshot)
	b.step(t, 2)
	w.until(t, "progress 2", isProgress(2))
	keys := rediskeys.New(b.app.Config.Redis.Prefix)
	if err := testutil.Redis(t).Del(b.ctx, keys.JobEventLog(job.ID), keys.JobEventSeq(job.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	b.step(t, 1)
	evs := w.until(t, "progress 3", isProgress(3))
	i := slices.IndexFunc(evs, func(ev client.Event) bool { _, ok := ev.(*client.ResetEvent); return ok })
	if i < 0 || evs[i].(*client.ResetEvent).Reason != "lost" {
		t.Fatalf("after Redis lost the job's events: %s, want a reset (lost) before progress 3", describe(evs))
	}
	b.step(t, 1)
	if rest := w.finish(t); w.err != nil || w.job.Status != client.StatusCompleted || !slices.ContainsFunc(rest, isProgress(4)) {
		t.Fatalf("after the reset: %s; Watch returned %+v, %v", describe(rest), w.job, w.err)
	}
}

func TestWatchTellsOfMissedEventsTheServiceNoLongerKeeps(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Events.MaxLen = 10 })
	pw := b.watchThroughProxy(t, 8, nil)
	w, p := pw.watching, pw.proxy
	b.step(t, 1)
	w.until(t, "progress 1", isProgress(1))

	// While the watch is away, the job logs more events (2 a step) than the service keeps.
	p.holdNew()
	p.cut()
	b.step(t, 6)
	b.logged(t, pw.jobID, 7)
	p.release()
	evs := w.until(t, "a reset", func(ev client.Event) bool { _, ok := ev.(*client.ResetEvent); return ok })
	reset := evs[len(evs)-1].(*client.ResetEvent)
	if reset.Reason != "expired" || slices.ContainsFunc(evs, isProgress(2)) {
		t.Fatalf("after the resume: %s (reset %+v)", describe(evs), reset)
	}
	b.step(t, 1)
	rest := w.finish(t)
	if w.err != nil || w.job.Status != client.StatusCompleted || !slices.ContainsFunc(rest, isProgress(8)) {
		t.Fatalf("after the reset: %s; Watch returned %+v, %v", describe(rest), w.job, w.err)
	}
}

func TestWatchCutsASilentConnectionAndResumes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pw := b.watchThroughProxy(t, 2, func(c *client.Client) { client.SetWatchTimings(c, 500*time.Millisecond, 30*time.Second) })
	w, p, evs := pw.watching, pw.proxy, pw.evs
	connected := len(p.connections())

	p.silence() // the connection stays open, but nothing comes through
	b.step(t, 2)
	evs = append(evs, w.finish(t)...)
	if w.err != nil {
		t.Fatal(w.err)
	}
	if len(p.connections()) <= connected {
		t.Fatal("the watch never reconnected")
	}
	b.checkAgainstLog(t, pw.jobID, evs)
}

func TestWatchWaitsAsRetryAfterAsks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pw := b.watchThroughProxy(t, 2, nil)
	w, p, evs := pw.watching, pw.proxy, pw.evs

	p.answerNext(http.StatusServiceUnavailable, "Retry-After: 1\r\n")
	p.cut()
	b.step(t, 2)
	evs = append(evs, w.finish(t)...)
	if w.err != nil {
		t.Fatal(w.err)
	}
	conns := p.connections()
	if len(conns) != 3 {
		t.Fatalf("%d connections, want the stream, the refused resume and the one after", len(conns))
	}
	if gap := conns[2].Sub(conns[1]); gap < 900*time.Millisecond {
		t.Fatalf("reconnected %s after a 503 with Retry-After: 1", gap)
	}
	b.checkAgainstLog(t, pw.jobID, evs)
}

func TestWatchResumeAnswered204EndsWithTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pw := b.watchThroughProxy(t, 2, nil)
	w, p := pw.watching, pw.proxy
	b.step(t, 1)
	evs := w.until(t, "progress 1", isProgress(1))

	p.holdNew()
	p.cut()
	b.step(t, 1)
	if res, err := b.c.Result(b.ctx, pw.jobID, 10*time.Second); err != nil || res.Status != client.StatusCompleted {
		t.Fatalf("result: %+v, %v", res, err)
	}
	// The resume is answered as a service answers one at or after the job's done.
	p.answerNext(http.StatusNoContent, "")
	p.release()
	evs = append(evs, w.finish(t)...)
	if w.err != nil {
		t.Fatal(w.err)
	}
	// The done event stands after the last event seen, and carries its number.
	done, ok := evs[len(evs)-1].(*client.DoneEvent)
	if !ok || done.ID != evs[len(evs)-2].EventID() || done.Job.Status != client.StatusCompleted || string(done.Job.Result) != `{"steps":2}` {
		t.Fatalf("after a 204: %s, last %+v", describe(evs), evs[len(evs)-1])
	}
	if w.job.ID != pw.jobID || w.job.Status != client.StatusCompleted {
		t.Fatalf("Watch returned %+v", w.job)
	}
}

func TestWatchOfEndedJobsIsSnapshotThenDone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	echo := b.start(t, client.StartRequest{FunctionID: "echo", Params: map[string]any{"a": 1}})
	if _, err := b.c.Result(b.ctx, echo.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	cancelled := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 1}})
	if _, err := b.c.Cancel(b.ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]client.Status{echo.ID: client.StatusCompleted, cancelled.ID: client.StatusCancelled} {
		var evs []client.Event
		job, err := b.c.Watch(b.ctx, id, func(ev client.Event) error {
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if describe(evs) == "" || !isSnapshot(evs[0]) || eventName(evs[len(evs)-1]) != events.Done || job.Status != want {
			t.Fatalf("watch of a %s job: %s, returned %+v", want, describe(evs), job)
		}
	}
}

func TestWatchStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 1}})

	// The handler's error ends it.
	stop := errors.New("seen enough")
	if _, err := b.c.Watch(b.ctx, job.ID, func(client.Event) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("a handler's error: Watch returned %v", err)
	}
	// So do the service's refusals, at once.
	_, err := b.c.Watch(b.ctx, "01a20000-0000-7000-8000-000000000000", nil)
	wantAPIError(t, err, client.ErrNotFound, 404)
	_, err = b.c.Watch(b.ctx, "nope", nil)
	wantAPIError(t, err, client.ErrBadRequest, 400, "nope")
	_, err = newClient(t, b.app.URL, "").Watch(b.ctx, job.ID, nil)
	wantAPIError(t, err, client.ErrUnauthorized, 401)

	// And the caller's context.
	ctx, cancel := context.WithCancel(b.ctx)
	w := startWatch(ctx, b.c, job.ID)
	w.until(t, "the snapshot", isSnapshot)
	cancel()
	w.finish(t)
	if !errors.Is(w.err, context.Canceled) {
		t.Fatalf("after cancel: %v", w.err)
	}

	// A service that stays away makes it give up once the reconnect budget is spent.
	pw := b.watchThroughProxy(t, 1, func(c *client.Client) { client.SetWatchTimings(c, 45*time.Second, time.Second) })
	t0 := time.Now()
	pw.proxy.refuse()
	w = pw.watching
	w.finish(t)
	if w.err == nil || !strings.Contains(w.err.Error(), "no connection for 1s") || time.Since(t0) > 15*time.Second {
		t.Fatalf("after %s without the service: %v", time.Since(t0), w.err)
	}
}
