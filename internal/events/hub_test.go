package events_test

import (
	"context"
	"testing"
	"time"

	"jobs/internal/events"
	"jobs/internal/testutil"
)

func TestSlowSubscriberIsClosedWithoutHoldingUpOthers(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		events.Config{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	hub := events.NewHub(bus, 8)
	ctx := context.Background()
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()

	slow := hub.Subscribe("job-1")  // never reads
	quick := hub.Subscribe("job-1") // reads everything
	other := hub.Subscribe("job-2") // another job: sees none of job-1's events
	defer slow.Close()
	defer quick.Close()
	defer other.Close()

	const n = 50
	var evs []events.Pending
	for i := range n {
		evs = append(evs, events.Pending{JobID: "job-1", Name: events.Progress, Data: events.ProgressData{Progress: int64(i)}})
	}
	received := make(chan []int64)
	go func() {
		var ids []int64
		for ev := range quick.C {
			ids = append(ids, ev.ID)
			if len(ids) == n {
				break
			}
		}
		received <- ids
	}()
	if err := bus.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	select {
	case ids := <-received:
		for i, id := range ids {
			if id != int64(i+1) {
				t.Fatalf("quick subscriber got ids %v, want 1..%d in order", ids, n)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the quick subscriber was held up")
	}
	// The slow one got its buffer's worth, then was closed.
	got := 0
	for range slow.C {
		got++
	}
	if got != 8 {
		t.Errorf("slow subscriber received %d events before being closed, want its buffer of 8", got)
	}
	select {
	case ev := <-other.C:
		t.Fatalf("job-2's subscriber got %+v", ev)
	default:
	}
	if last, err := bus.LastID(ctx, "job-1"); err != nil || last != n {
		t.Fatalf("LastID = %d, %v", last, err)
	}
}

func TestRangeReturnsTheKeptEventsInOrder(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		events.Config{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	ctx := context.Background()
	if err := bus.Publish(ctx, events.StatusChange("j", "completed", 1, "")...); err != nil {
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
