package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// The feed of every tenant (SubscribeAll) gets each tenant's events, numbered one by one by
// the hub from where it subscribed, their data naming the tenant; the subscribers of one
// tenant get them as they were. When the hub's Redis subscription is renewed (a lost
// connection: announcements made meanwhile are gone, and nothing keeps them for this feed),
// the feed is asked to check.
func TestEveryTenantsFeedNumbersItsEventsAndHearsOfMissedOnes(t *testing.T) {
	t.Parallel()
	proxy := testutil.NewProxy(t, testutil.RedisAddr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	bus := events.NewBus(rdb, testutil.RedisPrefix(t), config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	hub := events.NewTenantHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour})
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	ctx := context.Background()
	woken := make(chan struct{}, 1)
	notify := events.NotifyFunc(func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	})
	all, start := hub.SubscribeAll(notify)
	defer all.Close()
	one := hub.Subscribe("a", notify)
	defer one.Close()

	created := func(tenant, id string) events.Pending {
		return events.Pending{JobID: id, Name: events.Status, TenantOnly: true,
			Owner: events.Owner{Tenant: tenant, FunctionID: "echo"}, Data: events.StatusData{Status: "pending"}}
	}
	if err := bus.Publish(ctx, created("a", "job-1"), created("b b", "job-2"), created("a", "job-3")); err != nil {
		t.Fatal(err)
	}
	var got []*events.Event
	for len(got) < 3 {
		select {
		case <-woken:
			d := all.Take()
			if d.Check || d.Closed {
				t.Fatalf("the feed was asked to check (%v) or closed (%v) with nothing missed", d.Check, d.Closed)
			}
			got = append(got, d.Events...)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 3 events reached the feed of every tenant", len(got))
		}
	}
	// (Publish groups a batch's events by tenant: the order across tenants is the runs'.)
	want := map[string]string{"job-1": "a", "job-2": "b b", "job-3": "a"}
	for i, ev := range got {
		var data struct{ TenantID, ID string }
		if err := json.Unmarshal(ev.Data, &data); err != nil || ev.ID != start+int64(i)+1 || data.TenantID != want[data.ID] ||
			!strings.HasPrefix(string(ev.Data), `{"tenantId":`) {
			t.Fatalf("feed event %d: %d %s (%v), want number %d naming the job's tenant first", i, ev.ID, ev.Data, err, start+int64(i)+1)
		}
		delete(want, data.ID)
	}
	var mine []*events.Event
	if !testutil.Eventually(5*time.Second, func() bool { mine = append(mine, one.Take().Events...); return len(mine) >= 2 }) {
		t.Fatalf("tenant a's subscription got %d of its 2 events", len(mine))
	}
	for _, ev := range mine {
		if strings.Contains(string(ev.Data), "tenantId") {
			t.Fatalf("tenant a's own subscription got %s, want the data as published", ev.Data)
		}
	}

	proxy.Cut()
	proxy.Restore()
	if !testutil.Eventually(15*time.Second, func() bool { return all.Take().Check }) {
		t.Fatal("after the hub's Redis connection was cut, the feed of every tenant was not asked to check")
	}
}
