package events_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/events"
	"jobs/internal/testutil"
)

func TestSlowSubscriberIsClosedWithoutHoldingUpOthers(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	hub := events.NewHub(bus, config.EventsConf{ClientBuffer: 8, CheckInterval: time.Hour},
		func(context.Context, []string) ([]string, error) { return nil, nil })
	ctx := context.Background()
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()

	slow := hub.Subscribe("job-1", events.NotifyFunc(func() {})) // never takes its events
	quickWake := make(chan struct{}, 1)
	quick := hub.Subscribe("job-1", events.NotifyFunc(func() { // takes everything
		select {
		case quickWake <- struct{}{}:
		default:
		}
	}))
	other := hub.Subscribe("job-2", events.NotifyFunc(func() {})) // another job: sees none of job-1's events
	defer slow.Close()
	defer quick.Close()
	defer other.Close()

	// One event at a time, each taken by the quick subscriber before the next is
	// published: the slow one fills its queue and is closed, the quick one never falls behind.
	const n = 50
	var ids []int64
	for i := range n {
		if err := bus.Publish(ctx, events.Pending{JobID: "job-1", Name: events.Progress, Data: events.ProgressData{Progress: int64(i)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-quickWake:
		case <-time.After(5 * time.Second):
			t.Fatalf("the quick subscriber was not notified of event %d", i+1)
		}
		d := quick.Take()
		if d.Closed {
			t.Fatalf("the quick subscriber was closed at event %d", i+1)
		}
		for _, ev := range d.Events {
			ids = append(ids, ev.ID)
		}
	}
	for i, id := range ids {
		if len(ids) != n || id != int64(i+1) {
			t.Fatalf("quick subscriber got ids %v, want 1..%d in order", ids, n)
		}
	}
	// The slow one got its buffer's worth, then was closed.
	if d := slow.Take(); len(d.Events) != 8 || !d.Closed {
		t.Errorf("slow subscriber: %d events queued, closed %v; want its buffer of 8, closed", len(d.Events), d.Closed)
	}
	if d := other.Take(); len(d.Events) != 0 || d.Closed {
		t.Fatalf("job-2's subscriber: %d events, closed %v", len(d.Events), d.Closed)
	}
	if last, err := bus.LastID(ctx, "job-1"); err != nil || last != n {
		t.Fatalf("LastID = %d, %v", last, err)
	}
}

func TestRangeReturnsTheKeptEventsInOrder(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	ctx := context.Background()
	if err := bus.Publish(ctx, events.StatusChange("j", events.Owner{}, "completed", 1, "")...); err != nil {
		t.Fatal(err)
	}
	evs, err := bus.Range(ctx, "j", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].Name != events.Status || evs[1].Name != events.Done || evs[1].ID != 2 {
		t.Fatalf("Range = %+v, %v", evs, err)
	}
	if after, err := bus.Range(ctx, "j", 1, 10); err != nil || len(after) != 1 || after[0].ID != 2 {
		t.Fatalf("Range after 1 = %+v, %v", after, err)
	}
}

// A job's done is its last event: a second done, or anything after the first, is not
// stored, and EnsureDone returns the stored done's number or stores one.
func TestNothingIsStoredAfterADone(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	ctx := context.Background()
	if err := bus.Publish(ctx, events.Pending{JobID: "j", Name: events.Log, Data: events.LogData{Line: "x"}}); err != nil {
		t.Fatal(err)
	}
	if id, err := bus.EnsureDone(ctx, "j", events.StatusData{Status: "cancelled"}); err != nil || id != 2 {
		t.Fatalf("EnsureDone of a job without a done: %d, %v; want 2", id, err)
	}
	// The worker's own status change arrives after a stream stored the done: the job's log
	// stays as it is, the tenant's still hears of the change.
	owner := events.Owner{Tenant: "t"}
	tenantBefore, err := bus.TenantLastID(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	late := append(events.StatusChange("j", owner, "completed", 1, ""), events.Pending{JobID: "j", Name: events.Progress})
	if err := bus.Publish(ctx, late...); err != nil {
		t.Fatal(err)
	}
	tenantEvs, _, err := bus.TenantRange(ctx, "t", tenantBefore, tenantBefore+10)
	if err != nil || len(tenantEvs) != 1 || tenantEvs[0].Name != events.Status ||
		!strings.Contains(string(tenantEvs[0].Data), `"status":"completed"`) {
		t.Fatalf("tenant events after the done: %+v, %v; want the completed status", tenantEvs, err)
	}
	if id, err := bus.EnsureDone(ctx, "j", events.StatusData{Status: "completed"}); err != nil || id != 2 {
		t.Fatalf("EnsureDone of a job with a done: %d, %v; want 2", id, err)
	}
	evs, err := bus.Range(ctx, "j", 0, 100)
	if last, lerr := bus.LastID(ctx, "j"); err != nil || lerr != nil || len(evs) != 2 || evs[1].Name != events.Done || last != 2 {
		t.Fatalf("events %+v (latest %d): %v %v; want the log line and one done", evs, last, err, lerr)
	}
}

// Publish hands all of a batch's events of one job to one script run: each job's events are
// still numbered in order, whatever other jobs' events lie between them, and nothing after a
// done in the same batch is stored.
func TestOneBatchOfSeveralJobsNumbersEachJobInOrderAndStopsAtItsDone(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	ctx := context.Background()
	batch := []events.Pending{
		{JobID: "a", Name: events.Progress, Data: events.ProgressData{Progress: 1}},
		{JobID: "b", Name: events.Progress, Data: events.ProgressData{Progress: 1}},
		{JobID: "a", Name: events.Progress, Data: events.ProgressData{Progress: 2}},
	}
	batch = append(batch, events.StatusChange("a", events.Owner{}, "completed", 1, "")...)
	batch = append(batch, events.Pending{JobID: "a", Name: events.Progress, Data: events.ProgressData{Progress: 3}},
		events.Pending{JobID: "b", Name: events.Progress, Data: events.ProgressData{Progress: 2}})
	if err := bus.Publish(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	a, err := bus.Range(ctx, "a", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, ev := range a {
		if ev.ID != int64(i)+1 {
			t.Errorf("job a's event %d is numbered %d", i, ev.ID)
		}
		names = append(names, ev.Name+" "+string(ev.Data))
	}
	want := []string{`progress {"progress":1,"total":0,"message":""}`, `progress {"progress":2,"total":0,"message":""}`,
		`status {"status":"completed","attempt":1,"error":""}`, `done {"status":"completed","attempt":1,"error":""}`}
	if !slices.Equal(names, want) {
		t.Errorf("job a's log:\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if b, err := bus.Range(ctx, "b", 0, 100); err != nil || len(b) != 2 || b[1].ID != 2 || !strings.Contains(string(b[1].Data), `"progress":2`) {
		t.Errorf("job b's log: %+v, %v", b, err)
	}
}

// On a single Redis one script run takes the events of many jobs (1,000 events a run): a job
// that has its done already in the middle of a run stores nothing, and the jobs after it in
// the run are stored as usual; a job whose events span two runs is numbered on in order; a
// log is still cut to MaxLen (the run trims only a log that grew past it).
func TestOneRunOfManyJobsSkipsADoneJobAndKeepsTheOthersInOrder(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	ctx := context.Background()
	if _, err := bus.EnsureDone(ctx, "ended", events.StatusData{Status: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	var batch []events.Pending
	progress := func(job string, i int) events.Pending {
		return events.Pending{JobID: job, Name: events.Progress, Data: events.ProgressData{Progress: int64(i)}}
	}
	for i := range 1500 {
		batch = append(batch, progress(fmt.Sprintf("job-%d", i), 1))
		if i == 700 {
			batch = append(batch, events.StatusChange("ended", events.Owner{}, "completed", 1, "")...)
		}
		if i%2 == 0 {
			batch = append(batch, progress("long", i)) // 750 events, spread over both runs
		}
	}
	if err := bus.Publish(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"job-0", "job-700", "job-701", "job-1499"} {
		if evs, err := bus.Range(ctx, job, 0, 100); err != nil || len(evs) != 1 || evs[0].ID != 1 || evs[0].Name != events.Progress {
			t.Errorf("%s's log: %+v, %v; want its progress numbered 1", job, evs, err)
		}
	}
	if evs, err := bus.Range(ctx, "ended", 0, 100); err != nil || len(evs) != 1 || evs[0].Name != events.Done {
		t.Errorf("the ended job's log: %+v, %v; want its one done", evs, err)
	}
	long, err := bus.Range(ctx, "long", 0, 10000)
	if err != nil || len(long) != 750 {
		t.Fatalf("the long job keeps %d events, %v; want 750", len(long), err)
	}
	for i, ev := range long {
		if want := fmt.Sprintf(`{"progress":%d,`, 2*i); ev.ID != int64(i)+1 || !strings.HasPrefix(string(ev.Data), want) {
			t.Fatalf("the long job's event %d: %d %s, want number %d, data %s…", i, ev.ID, ev.Data, i+1, want)
		}
	}
	// 500 more: the log keeps the last 1,000 of the 1,250.
	batch = batch[:0]
	for i := range 500 {
		batch = append(batch, progress("long", 1500+2*i))
	}
	if err := bus.Publish(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if long, err = bus.Range(ctx, "long", 0, 10000); err != nil || len(long) != 1000 || long[0].ID != 251 || long[999].ID != 1250 {
		t.Fatalf("the long job keeps %d events (%v), want 251..1250", len(long), err)
	}
}

// Close may be called again (an embedder's deferred Close after Stop's, say), also while the
// first still waits for the Redis subscription to end: the later calls do nothing.
func TestHubCloseTwice(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	for _, started := range []bool{true, false} {
		hub := events.NewHub(bus, config.EventsConf{ClientBuffer: 8, CheckInterval: time.Hour},
			func(context.Context, []string) ([]string, error) { return nil, nil })
		if started {
			if err := hub.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		sub := hub.Subscribe("job-1", events.NotifyFunc(func() {}))
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(hub.Close)
		}
		wg.Wait()
		hub.Close()
		if d := sub.Take(); !d.Closed {
			t.Fatalf("started %v: the subscription is open after Close", started)
		}
		select {
		case <-hub.Done():
		default:
			t.Fatalf("started %v: Done is not closed after Close", started)
		}
	}
}
