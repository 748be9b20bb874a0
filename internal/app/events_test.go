package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

type tenantEvent struct {
	TenantID   string
	ID         string
	FunctionID string
	Name       string
	Status     string
	Attempt    int64
	Progress   int64
	Reason     string
}

// nextEvent reads the next event of s and decodes its data.
func nextEvent(t *testing.T, s *testutil.Stream) (testutil.Event, tenantEvent) {
	t.Helper()
	ev, err := s.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ev, decode[tenantEvent](t, ev.Data)
}

// untilStatus reads events of s until job id reaches status, and returns them all.
func untilStatus(t *testing.T, s *testutil.Stream, id, status string) []testutil.Event {
	t.Helper()
	var evs []testutil.Event
	for {
		ev, data := nextEvent(t, s)
		evs = append(evs, ev)
		if ev.Name == "status" && data.ID == id && data.Status == status {
			return evs
		}
	}
}

func TestTenantEventsCarryEveryChangeOfTheTenantsJobsAndResumeExactly(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	other := a.As("tenant-b", "bob")
	s := a.OpenStreamAt("/api/v1/events", "")
	elsewhere := other.OpenStreamAt("/api/v1/events", "")

	// A first connection starts with a reset: a position to resume from, and "load your view".
	first, reset := nextEvent(t, s)
	if first.Name != "reset" || reset.Reason != "new" {
		t.Fatalf("first event %s %s, want reset (new)", first.Name, first.Data)
	}
	job := a.StartJob(map[string]any{"functionId": "sleep", "name": "nap", "params": map[string]any{"seconds": 1}})
	evs := untilStatus(t, s, job.Id, "completed")
	checkIncreasing(t, append([]testutil.Event{first}, evs...))
	var statuses []string
	progress := 0
	for i, ev := range evs {
		if ev.ID != first.ID+int64(i)+1 {
			t.Fatalf("event ids %v do not follow the reset's %d one by one", evs, first.ID)
		}
		data := decode[tenantEvent](t, ev.Data)
		if data.ID != job.Id {
			t.Fatalf("event of another job: %s", ev.Data)
		}
		switch ev.Name {
		case "status":
			if data.FunctionID != "sleep" || data.Name != "nap" {
				t.Errorf("status event without the job's function and name: %s", ev.Data)
			}
			statuses = append(statuses, data.Status)
		case "progress":
			progress++
		default:
			t.Errorf("unexpected event %s", ev.Name)
		}
	}
	if len(statuses) != 3 || statuses[0] != "pending" || statuses[1] != "running" || progress == 0 {
		t.Fatalf("statuses %v and %d progress events; want pending, running, completed and some progress", statuses, progress)
	}

	// Resuming after the running event replays exactly what followed it.
	running := evs[1]
	resumed := a.OpenStreamAt("/api/v1/events", strconv.FormatInt(running.ID, 10))
	for _, want := range evs[2:] {
		got, err := resumed.Next(10 * time.Second)
		if err != nil || got.ID != want.ID || got.Name != want.Name || string(got.Data) != string(want.Data) {
			t.Fatalf("resumed event %+v (%v), want %+v", got, err, want)
		}
	}

	// The other tenant heard nothing of it: its next event is about its own job.
	mine := other.StartJob(map[string]any{"functionId": "echo"})
	if ev, reset := nextEvent(t, elsewhere); ev.Name != "reset" || reset.Reason != "new" {
		t.Fatalf("other tenant's first event: %s %s", ev.Name, ev.Data)
	}
	if ev, data := nextEvent(t, elsewhere); data.ID != mine.Id {
		t.Fatalf("other tenant's stream carried %s %s", ev.Name, ev.Data)
	}
}

func TestTenantEventsResetWhenTheResumePointIsGone(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Events.TenantMaxLen = 10 }))
	s := a.OpenStreamAt("/api/v1/events", "")
	start, _ := nextEvent(t, s)
	// Five echo jobs make 15 events (pending, running, completed each): more than are kept.
	for range 5 {
		job := a.StartJob(map[string]any{"functionId": "echo"})
		untilStatus(t, s, job.Id, "completed")
	}
	expired := a.OpenStreamAt("/api/v1/events", strconv.FormatInt(start.ID, 10))
	if ev, data := nextEvent(t, expired); ev.Name != "reset" || data.Reason != "expired" {
		t.Fatalf("resume from before the kept events: %s %s, want reset (expired)", ev.Name, ev.Data)
	}
	// A position Redis never gave out (it lost its data since) is a reset too.
	lost := a.OpenStreamAt("/api/v1/events", strconv.FormatInt(start.ID+1_000_000, 10))
	if ev, data := nextEvent(t, lost); ev.Name != "reset" || data.Reason != "lost" {
		t.Fatalf("resume from an unknown position: %s %s, want reset (lost)", ev.Name, ev.Data)
	}
	// After a reset, live events follow.
	job := a.StartJob(map[string]any{"functionId": "echo"})
	untilStatus(t, lost, job.Id, "completed")
}

// A Redis that failed over to a replica a few events behind numbers the tenant's next events
// with numbers its clients already have. A stream took them for events it had sent and
// dropped them until the numbers passed its own; at the hub's next check it now sends a reset
// (lost), numbered in Redis's new numbering, and carries on from there.
func TestTenantEventsResetWhenRedisFailedOverBehindTheStream(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) { c.Events.CheckInterval = 200 * time.Millisecond }))
	s := a.OpenStreamAt("/api/v1/events", "")
	start, _ := nextEvent(t, s)
	echo := map[string]any{"functionId": "echo"}
	for i := range 3 {
		job := a.StartJob(echo)
		if ev, data := nextEvent(t, s); ev.ID != start.ID+int64(i)+1 || data.ID != job.Id {
			t.Fatalf("event %d: %d %s, want %d of job %s", i+1, ev.ID, ev.Data, start.ID+int64(i)+1, job.Id)
		}
	}
	// The replica had the first of those three events only.
	ctx, rdb, keys := context.Background(), testutil.Redis(t), rediskeys.New(a.Config.Redis.Prefix)
	behind := start.ID + 1
	if err := rdb.Set(ctx, keys.TenantEventSeq(apptest.DefaultTenant), behind, a.Config.Events.Retain).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LTrim(ctx, keys.TenantEventLog(apptest.DefaultTenant), 0, -3).Err(); err != nil {
		t.Fatal(err)
	}
	a.StartJob(echo) // numbered behind+1, a number the stream sent, unless the check came first
	reset, data := nextEvent(t, s)
	if reset.Name != "reset" || data.Reason != "lost" || reset.ID < behind || reset.ID > behind+1 {
		t.Fatalf("after the failover: %s %d %s, want reset (lost) at %d or %d", reset.Name, reset.ID, reset.Data, behind, behind+1)
	}
	// What follows the reset is in the new numbering, one by one.
	later := a.StartJob(echo)
	evs := untilStatus(t, s, later.Id, "pending")
	for i, ev := range evs {
		if ev.ID != reset.ID+int64(i)+1 {
			t.Fatalf("after the reset at %d: %+v, want the ids to follow it one by one", reset.ID, evs)
		}
	}
	if last := evs[len(evs)-1].ID; last != behind+2 {
		t.Fatalf("job started after the reset numbered %d, want %d", last, behind+2)
	}
}

func TestTenantEventsTakeTheTokenInTheQueryAndRefuseBadInput(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	anonymous := a.WithToken("")
	s := anonymous.OpenStreamAt("/api/v1/events?access_token="+url.QueryEscape(a.BearerToken()), "")
	if ev, _ := nextEvent(t, s); ev.Name != "reset" {
		t.Fatalf("first event %s", ev.Name)
	}
	if _, status, body := anonymous.TryStreamAt("/api/v1/events", ""); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d %s", status, body)
	}
	if _, status, body := a.TryStreamAt("/api/v1/events", "yesterday"); status != http.StatusBadRequest {
		t.Errorf("Last-Event-ID yesterday: %d %s", status, body)
	}
}

// An admin token's tenant stream is the tenant tenant_id names, resumable as that tenant's
// own; without tenant_id, a live feed of every tenant whose events name their tenant, which
// starts with a reset on every connection. An ordinary token naming another tenant is a 403,
// as on the lists.
func TestTenantEventsOfAnAdminToken(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	admin, other := a.AsAdmin("ops", "olga"), a.As("tenant-b", "bob")
	echo := map[string]any{"functionId": "echo"}

	if _, status, body := a.TryStreamAt("/api/v1/events?tenant_id=tenant-b", ""); status != http.StatusForbidden || !strings.Contains(body, "tenant_id") {
		t.Errorf("an ordinary token naming another tenant: %d %s, want a 403 naming tenant_id", status, body)
	}
	own := a.OpenStreamAt("/api/v1/events?tenant_id="+apptest.DefaultTenant, "")
	if ev, _ := nextEvent(t, own); ev.Name != "reset" {
		t.Errorf("an ordinary token naming its own tenant: first event %s %s", ev.Name, ev.Data)
	}
	for _, bad := range []struct{ path, lastEventID string }{
		{"/api/v1/events?tenant_id=" + url.QueryEscape("no spaces"), ""},
		{"/api/v1/events", "yesterday"},
	} {
		if _, status, body := admin.TryStreamAt(bad.path, bad.lastEventID); status != http.StatusBadRequest {
			t.Errorf("admin %s, Last-Event-ID %q: %d %s, want 400", bad.path, bad.lastEventID, status, body)
		}
	}

	// tenant_id=tenant-b: tenant-b's events as its own stream has them, and the same replay.
	named := admin.OpenStreamAt("/api/v1/events?tenant_id=tenant-b", "")
	first, _ := nextEvent(t, named)
	job := other.StartJob(echo)
	evs := untilStatus(t, named, job.Id, "completed")
	for i, ev := range evs {
		if data := decode[tenantEvent](t, ev.Data); ev.ID != first.ID+int64(i)+1 || data.ID != job.Id || data.TenantID != "" {
			t.Fatalf("event %d of tenant-b for the admin: %d %s, want number %d of job %s", i, ev.ID, ev.Data, first.ID+int64(i)+1, job.Id)
		}
	}
	resumed := admin.OpenStreamAt("/api/v1/events?tenant_id=tenant-b", strconv.FormatInt(evs[0].ID, 10))
	for _, want := range evs[1:] {
		if got, err := resumed.Next(10 * time.Second); err != nil || got.ID != want.ID || string(got.Data) != string(want.Data) {
			t.Fatalf("admin's resumed event %+v (%v), want %+v", got, err, want)
		}
	}

	// Without tenant_id: every tenant's events, numbered one by one by the server, each naming
	// its tenant.
	all := admin.OpenStreamAt("/api/v1/events", "")
	reset, data := nextEvent(t, all)
	if reset.Name != "reset" || data.Reason != "new" {
		t.Fatalf("the feed of every tenant starts with %s %s, want reset (new)", reset.Name, reset.Data)
	}
	jobs := map[string]string{a.StartJob(echo).Id: apptest.DefaultTenant, other.StartJob(echo).Id: "tenant-b"}
	last := reset.ID
	for done := 0; done < len(jobs); {
		ev, data := nextEvent(t, all)
		if ev.ID != last+1 || ev.Name != "status" || data.TenantID != jobs[data.ID] || data.FunctionID != "echo" {
			t.Fatalf("after %d: %d %s %s, want the next number, a status of one of %v naming its tenant", last, ev.ID, ev.Name, ev.Data, jobs)
		}
		last = ev.ID
		if data.Status == "completed" {
			done++
		}
	}
	// A reconnect cannot resume: reset (expired), then live events.
	again := admin.OpenStreamAt("/api/v1/events", strconv.FormatInt(last, 10))
	if ev, data := nextEvent(t, again); ev.Name != "reset" || data.Reason != "expired" {
		t.Fatalf("a reconnect to the feed of every tenant: %s %s, want reset (expired)", ev.Name, ev.Data)
	}
	later := other.StartJob(echo)
	untilStatus(t, again, later.Id, "completed")
}

// The feed of every tenant keeps nothing to catch up from, so when the server's Redis
// subscription is renewed (events announced meanwhile are lost) it sends reset (lost), and
// live events follow. It reads nothing from Redis to start, so it opens during an outage.
func TestAdminFeedOfEveryTenantResetsWhenEventsMayBeLost(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	proxy := testutil.NewProxy(t, c.Redis.Addr)
	c.Redis.Addr = proxy.Addr()
	a := apptest.StartApp(t, c)
	admin := a.AsAdmin("ops", "olga")
	all := admin.OpenStreamAt("/api/v1/events", "")
	first, _ := nextEvent(t, all)

	proxy.Cut()
	during := admin.OpenStreamAt("/api/v1/events", "")
	if ev, data := nextEvent(t, during); ev.Name != "reset" || data.Reason != "new" {
		t.Fatalf("the feed opened during a Redis outage: %s %s, want reset (new)", ev.Name, ev.Data)
	}
	proxy.Restore()
	for _, s := range []*testutil.Stream{all, during} {
		if ev, data := nextEvent(t, s); ev.Name != "reset" || data.Reason != "lost" || (s == all && ev.ID != first.ID) {
			t.Fatalf("once Redis is back: %d %s %s, want reset (lost) at the last id sent", ev.ID, ev.Name, ev.Data)
		}
	}
	job := a.StartJob(map[string]any{"functionId": "echo"})
	if ev, data := nextEvent(t, all); ev.ID != first.ID+1 || data.ID != job.Id || data.TenantID != apptest.DefaultTenant {
		t.Fatalf("after the reset: %d %s, want number %d of job %s", ev.ID, ev.Data, first.ID+1, job.Id)
	}
}
