package events_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/events"
	"jobs/internal/testutil"
)

func TestTenantLogNumbersKeepsAndAnnouncesTheTenantsEvents(t *testing.T) {
	t.Parallel()
	bus, hub := startTenantHub(t, 10, 100)
	ctx := context.Background()
	tenant := "acme corp" // a tenant may hold spaces
	woken := make(chan struct{}, 100)
	sub := hub.Subscribe(tenant, events.NotifyFunc(func() { woken <- struct{}{} }))
	defer sub.Close()

	start, err := bus.TenantLastID(ctx, tenant)
	if err != nil || start < time.Now().Add(-time.Minute).UnixMicro() {
		t.Fatalf("a new tenant's numbering starts at %d (%v), want about now in microseconds", start, err)
	}
	owner := events.Owner{Tenant: tenant, FunctionID: "sleep", JobName: "nap"}
	// Twelve status changes of one job; the log keeps the last ten. Log and done events stay
	// with the job; the creation goes to the tenant only.
	evs := []events.Pending{{JobID: "job-1", Name: events.Status, Owner: owner, TenantOnly: true, Data: events.StatusData{Status: "pending"}}}
	for i := range 11 {
		evs = append(evs, events.Pending{JobID: "job-1", Name: events.Progress, Owner: owner, Data: events.ProgressData{Progress: int64(i)}})
	}
	evs = append(evs, events.Pending{JobID: "job-1", Name: events.Log, Owner: owner, Data: events.LogData{Line: "hi"}})
	if err := bus.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if last, err := bus.LastID(ctx, "job-1"); err != nil || last != 12 {
		t.Fatalf("the job's log holds %d events (%v), want its 11 progress and 1 log events", last, err)
	}
	var got []*events.Event
	for len(got) < 12 {
		select {
		case <-woken:
			got = append(got, sub.Take().Events...)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 12 tenant events announced", len(got))
		}
	}
	for i, ev := range got {
		if ev.ID != start+int64(i)+1 {
			t.Fatalf("event %d numbered %d, want %d", i, ev.ID, start+int64(i)+1)
		}
	}
	if got[0].Name != events.Status || !strings.Contains(string(got[0].Data), `"functionId":"sleep","name":"nap","status":"pending"`) {
		t.Fatalf("first tenant event %s %s", got[0].Name, got[0].Data)
	}

	// Reading by number: the last ten are kept; from before them is incomplete.
	kept, gone, err := bus.TenantRange(ctx, tenant, start+2, start+12)
	if err != nil || gone != "" || len(kept) != 10 || kept[0].ID != start+3 {
		t.Fatalf("range after the second event: %d events from %v, gone %q, %v", len(kept), kept, gone, err)
	}
	if _, gone, err := bus.TenantRange(ctx, tenant, start+1, start+12); err != nil || gone != events.ResetExpired {
		t.Fatalf("range after the first event: gone %q (%v), want expired: event 2 is no longer kept", gone, err)
	}
}

// Tenant events that follow each other in one Publish (the created events of a group of
// starts) are stored and announced as if published one by one: numbered in order per
// tenant, each announced once, whatever the runs they were grouped in.
func TestTenantEventsPublishedTogetherAreNumberedInOrder(t *testing.T) {
	t.Parallel()
	bus, hub := startTenantHub(t, 1000, 1000)
	ctx := context.Background()
	tenants := []string{"a", "b b"}
	starts := map[string]int64{}
	woken := make(chan struct{}, 1000)
	subs := map[string]*events.Subscription{}
	for _, tenant := range tenants {
		subs[tenant] = hub.Subscribe(tenant, events.NotifyFunc(func() { woken <- struct{}{} }))
		defer subs[tenant].Close()
		start, err := bus.TenantLastID(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		starts[tenant] = start
	}
	// 150 of a (over one run's bound), 3 of b, 2 of a again.
	var evs []events.Pending
	want := map[string][]string{}
	for i, n := range []int{150, 3, 2} {
		tenant := tenants[i%2]
		for range n {
			id := fmt.Sprintf("job-%d", len(evs))
			evs = append(evs, events.Pending{JobID: id, Name: events.Status, TenantOnly: true,
				Owner: events.Owner{Tenant: tenant, FunctionID: "echo"}, Data: events.StatusData{Status: "pending"}})
			want[tenant] = append(want[tenant], id)
		}
	}
	if err := bus.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	got := map[string][]events.Event{}
	for len(got["a"])+len(got["b b"]) < len(evs) {
		select {
		case <-woken:
			for tenant, sub := range subs {
				for _, ev := range sub.Take().Events {
					got[tenant] = append(got[tenant], *ev)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d and %d of %d tenant events announced", len(got["a"]), len(got["b b"]), len(evs))
		}
	}
	for _, tenant := range tenants {
		kept, gone, err := bus.TenantRange(ctx, tenant, starts[tenant], starts[tenant]+int64(len(want[tenant])))
		if err != nil || gone != "" || len(kept) != len(want[tenant]) {
			t.Fatalf("tenant %q keeps %d events (gone %q, %v), want %d", tenant, len(kept), gone, err, len(want[tenant]))
		}
		for i, id := range want[tenant] {
			for _, ev := range []events.Event{got[tenant][i], kept[i]} {
				if ev.ID != starts[tenant]+int64(i)+1 || !strings.Contains(string(ev.Data), `"id":"`+id+`"`) {
					t.Fatalf("tenant %q event %d: %d %s, want number %d of %s", tenant, i, ev.ID, ev.Data, starts[tenant]+int64(i)+1, id)
				}
			}
		}
	}
}

// startTenantHub returns a bus on a prefix of its own whose tenants' logs keep tenantMaxLen
// events, and a started hub whose subscribers buffer clientBuffer events.
func startTenantHub(t *testing.T, tenantMaxLen int64, clientBuffer int) (*events.Bus, *events.Hub) {
	t.Helper()
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute, TenantMaxLen: tenantMaxLen})
	hub := events.NewTenantHub(bus, config.EventsConf{ClientBuffer: clientBuffer, CheckInterval: time.Hour})
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	return bus, hub
}

// A bulk cancel or rerun of up to Limits.MaxBulk (10,000) jobs of one tenant publishes that
// many tenant events at once. Redis's Lua unpacks at most about 8,000 values into one call, so
// one run for them all failed and the tenant's clients heard of none of them.
func TestTenantEventsOfABulkActionAreAllStored(t *testing.T) {
	t.Parallel()
	bus, _ := startTenantHub(t, 20000, 1)
	ctx := context.Background()
	start, err := bus.TenantLastID(ctx, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	evs := make([]events.Pending, n)
	for i := range evs {
		evs[i] = events.StatusChange(fmt.Sprintf("job-%d", i), events.Owner{Tenant: "bulk", FunctionID: "sleep"}, "cancelled", 1, "")[0]
	}
	if err := bus.Publish(ctx, evs...); err != nil {
		t.Fatalf("publish %d events of one tenant: %v", n, err)
	}
	kept, gone, err := bus.TenantRange(ctx, "bulk", start, start+n)
	if err != nil || gone != "" || len(kept) != n {
		t.Fatalf("tenant keeps %d of %d events (gone %q, %v)", len(kept), n, gone, err)
	}
	for i, ev := range kept {
		if ev.ID != start+int64(i)+1 || !strings.Contains(string(ev.Data), fmt.Sprintf(`"id":"job-%d"`, i)) {
			t.Fatalf("event %d: %d %s", i, ev.ID, ev.Data)
		}
	}
}
