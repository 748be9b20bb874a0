package stream_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/auth"
	"jobs/internal/config"
	"jobs/internal/events"
	"jobs/internal/rediskeys"
	"jobs/internal/stream"
	"jobs/internal/testutil"
	"jobs/internal/types"
	"jobs/model"
)

// client records what a stream sends and counts the hub's wake-ups.
type client struct {
	sent  []*types.StreamEvent
	woken chan struct{}
}

func newClient() *client { return &client{woken: make(chan struct{}, 1000)} }

func (c *client) Send(ev *types.StreamEvent) error {
	c.sent = append(c.sent, ev)
	return nil
}

func (c *client) Notify() {
	select {
	case c.woken <- struct{}{}:
	default:
	}
}

// describe lists the events sent as "id name", with data for the events whose data says
// which one it is.
func (c *client) describe() string {
	var parts []string
	for _, ev := range c.sent {
		s := fmt.Sprintf("%d %s", ev.Id, ev.Event)
		if data, ok := ev.Data.(json.RawMessage); ok {
			s += " " + string(data)
		}
		if reset, ok := ev.Data.(events.ResetData); ok {
			s += " " + reset.Reason
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// continueUntil runs s as its transport would, each time the hub wakes it, until c has
// received n events or the stream is done.
func continueUntil(t *testing.T, s *stream.Stream, c *client, n int) (done bool) {
	t.Helper()
	for len(c.sent) < n {
		select {
		case <-c.woken:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d events sent: %s", len(c.sent), n, c.describe())
		}
		done, err := s.Continue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return true
		}
	}
	return false
}

func newBus(t *testing.T) *events.Bus {
	return events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute, TenantMaxLen: 10})
}

// startHub starts hub until the test ends.
func startHub(t *testing.T, hub *events.Hub) *events.Hub {
	t.Helper()
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	return hub
}

func TestTenantStreamStartsWithAResetAndForwardsLiveEvents(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	hub := startHub(t, events.NewTenantHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}))
	ctx := context.Background()
	owner := events.Owner{Tenant: "acme", FunctionID: "sleep", JobName: "nap"}
	progress := func(p int64) events.Pending {
		return events.Pending{JobID: "job-1", Name: events.Progress, Owner: owner, Data: events.ProgressData{Progress: p}}
	}
	if err := bus.Publish(ctx, progress(1)); err != nil {
		t.Fatal(err)
	}
	latest, err := bus.TenantLastID(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	c := newClient()
	s, err := stream.Tenant(bus, hub, "acme", "", c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if done, err := s.Continue(ctx); err != nil || done {
		t.Fatalf("first Continue: done %v, %v", done, err)
	}
	if want := fmt.Sprintf("%d reset new", latest); c.describe() != want {
		t.Fatalf("a first connection got %q, want %q", c.describe(), want)
	}
	if err := bus.Publish(ctx, progress(2)); err != nil {
		t.Fatal(err)
	}
	continueUntil(t, s, c, 2)
	if got := c.sent[1]; got.Id != latest+1 || got.Event != events.Progress || !strings.Contains(c.describe(), `"progress":2`) {
		t.Fatalf("live event: %s", c.describe())
	}
}

func TestTenantStreamResumesFromLastEventID(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	hub := startHub(t, events.NewTenantHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}))
	ctx := context.Background()
	start, err := bus.TenantLastID(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	owner := events.Owner{Tenant: "acme", FunctionID: "sleep", JobName: "nap"}
	for i := range 12 { // the tenant's log keeps the last 10: events start+3 to start+12
		if err := bus.Publish(ctx, events.Pending{JobID: "job-1", Name: events.Progress, Owner: owner, Data: events.ProgressData{Progress: int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, lastEventID, want string
	}{
		{"within the kept events", fmt.Sprint(start + 10), fmt.Sprintf(`%d progress {"id":"job-1","progress":10,"total":0,"message":""}, %d progress {"id":"job-1","progress":11,"total":0,"message":""}`, start+11, start+12)},
		{"before the kept events", fmt.Sprint(start + 1), fmt.Sprintf("%d reset expired", start+12)},
		{"after the latest (Redis lost the log)", fmt.Sprint(start + 100), fmt.Sprintf("%d reset lost", start+12)},
		{"at the latest", fmt.Sprint(start + 12), ""},
	} {
		c := newClient()
		s, err := stream.Tenant(bus, hub, "acme", tc.lastEventID, c)
		if err != nil {
			t.Fatal(err)
		}
		done, err := s.Continue(ctx)
		s.Close()
		if err != nil || done || c.describe() != tc.want {
			t.Errorf("resume %s: got %q (done %v, %v), want %q", tc.name, c.describe(), done, err, tc.want)
		}
	}
	if _, err := stream.Tenant(bus, hub, "acme", "x", newClient()); err == nil || !strings.Contains(err.Error(), "Last-Event-ID") {
		t.Fatalf("a malformed Last-Event-ID: %v", err)
	}
}

func TestJobStreamSendsSnapshotLogsLiveEventsAndDone(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	jobs := testutil.NewFactory(t, store)
	bus := newBus(t)
	hub := startHub(t, events.NewHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}, store.Jobs.Ended))
	deps := stream.JobDeps{Bus: bus, Hub: hub, Jobs: store.Jobs, LogTail: 2}
	ctx := auth.WithIdentity(context.Background(), auth.Identity{Tenant: testutil.FactoryTenant, Actor: "test"})

	job := jobs.Running("worker-1", time.Minute)
	logLine := func(line string) events.Pending {
		return events.Pending{JobID: job.Id, Name: events.Log, Data: events.LogData{Line: line}}
	}
	if err := bus.Publish(ctx, logLine("one"), logLine("two"), logLine("three")); err != nil {
		t.Fatal(err)
	}

	c := newClient()
	s, err := stream.Job(deps, job.Id, "", c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if done, err := s.Continue(ctx); err != nil || done {
		t.Fatalf("first Continue: done %v, %v", done, err)
	}
	// The snapshot stands for everything before the last two log lines (LogTail).
	if want := `1 snapshot, 2 log {"stream":"","line":"two"}, 3 log {"stream":"","line":"three"}`; c.describe() != want {
		t.Fatalf("a fresh stream of a running job got %q, want %q", c.describe(), want)
	}
	if item, ok := c.sent[0].Data.(types.JobItem); !ok || item.Id != job.Id || item.Status != string(model.StatusRunning) {
		t.Fatalf("snapshot data %#v, want the running job", c.sent[0].Data)
	}

	if err := bus.Publish(ctx, events.Pending{JobID: job.Id, Name: events.Progress, Data: events.ProgressData{Progress: 5, Total: 10}}); err != nil {
		t.Fatal(err)
	}
	if done := continueUntil(t, s, c, 4); done || c.sent[3].Id != 4 || c.sent[3].Event != events.Progress {
		t.Fatalf("live progress: done %v, %s", done, c.describe())
	}

	won, err := store.Jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: job.Id, Attempt: job.Attempt, Kind: model.OutcomeCompleted,
		Result: sql.NullString{String: `{"ok":true}`, Valid: true}}})
	if err != nil || !won[0] {
		t.Fatalf("finish: %v %v", won, err)
	}
	if err := bus.Publish(ctx, events.Pending{JobID: job.Id, Name: events.Done, Data: events.StatusData{Status: model.StatusCompleted, Attempt: job.Attempt}}); err != nil {
		t.Fatal(err)
	}
	if done := continueUntil(t, s, c, 5); !done || c.sent[4].Id != 5 || c.sent[4].Event != events.Done {
		t.Fatalf("done: done %v, %s", done, c.describe())
	}
	if detail, ok := c.sent[4].Data.(*types.JobDetail); !ok || detail.Status != string(model.StatusCompleted) {
		t.Fatalf("done data %#v, want the completed job", c.sent[4].Data)
	}

	// A client that resumes from an event before the done gets a snapshot, what it missed
	// and the done; one that had the done has nothing more to get.
	resumed := newClient()
	s2, err := stream.Job(deps, job.Id, "3", resumed)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if done, err := s2.Continue(ctx); err != nil || !done || !strings.HasPrefix(resumed.describe(), "3 snapshot, 4 progress") || resumed.sent[2].Event != events.Done {
		t.Fatalf("resume from 3: done %v (%v), got %s", done, err, resumed.describe())
	}
	after := newClient()
	s3, err := stream.Job(deps, job.Id, "5", after)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if done, err := s3.Continue(ctx); err != nil || !done || len(after.sent) != 0 {
		t.Fatalf("resume after the done: done %v (%v), got %s; want done with nothing sent", done, err, after.describe())
	}
}

func TestJobStreamOfAnotherTenantsJobIsNotFound(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	job := testutil.NewFactory(t, store).Pending()
	bus := newBus(t)
	hub := startHub(t, events.NewHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}, store.Jobs.Ended))
	c := newClient()
	s, err := stream.Job(stream.JobDeps{Bus: bus, Hub: hub, Jobs: store.Jobs}, job.Id, "", c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := auth.WithIdentity(context.Background(), auth.Identity{Tenant: "someone-else", Actor: "test"})
	if _, err := s.Continue(ctx); err == nil || len(c.sent) != 0 {
		t.Fatalf("another tenant's job: %v, sent %s", err, c.describe())
	}
}

func TestJobStreamResumeFromBeforeTheKeptEventsGetsAReset(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	jobs := testutil.NewFactory(t, store)
	// A job's log keeps its last 3 events (Events.MaxLen).
	bus := events.NewBus(testutil.Redis(t), testutil.RedisPrefix(t),
		config.EventsConf{MaxLen: 3, Retain: time.Minute, RetainDone: time.Minute})
	hub := startHub(t, events.NewHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}, store.Jobs.Ended))
	deps := stream.JobDeps{Bus: bus, Hub: hub, Jobs: store.Jobs, LogTail: 2}
	ctx := auth.WithIdentity(context.Background(), auth.Identity{Tenant: testutil.FactoryTenant, Actor: "test"})

	job := jobs.Running("worker-1", time.Minute)
	for i := range 5 { // events 1 to 5, of which 3 to 5 are kept
		if err := bus.Publish(ctx, events.Pending{JobID: job.Id, Name: events.Log, Data: events.LogData{Line: fmt.Sprint(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	resume := func(lastEventID string) (*client, *stream.Stream) {
		t.Helper()
		c := newClient()
		s, err := stream.Job(deps, job.Id, lastEventID, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if done, err := s.Continue(ctx); err != nil || done {
			t.Fatalf("resume from %s: done %v, %v", lastEventID, done, err)
		}
		return c, s
	}
	if c, _ := resume("2"); c.describe() != `2 snapshot, 3 log {"stream":"","line":"3"}, 4 log {"stream":"","line":"4"}, 5 log {"stream":"","line":"5"}` {
		t.Fatalf("a resume within the kept events got %s", c.describe())
	}
	// Event 2 (line 2) is no longer kept: the client must be told, not given 3 to 5 as if
	// they were all it missed.
	c, s := resume("1")
	if want := "1 snapshot, 5 reset expired"; c.describe() != want {
		t.Fatalf("a resume from before the kept events got %q, want %q", c.describe(), want)
	}
	if err := bus.Publish(ctx, events.Pending{JobID: job.Id, Name: events.Log, Data: events.LogData{Line: "6"}}); err != nil {
		t.Fatal(err)
	}
	if continueUntil(t, s, c, 3); c.sent[2].Id != 6 || c.sent[2].Event != events.Log {
		t.Fatalf("after the reset: %s", c.describe())
	}

	// Of a finished job, the done still follows the reset, with its own number.
	if won, err := store.Jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: job.Id, Attempt: job.Attempt, Kind: model.OutcomeCompleted}}); err != nil || !won[0] {
		t.Fatalf("finish: %v %v", won, err)
	}
	if err := bus.Publish(ctx, events.StatusChange(job.Id, events.Owner{}, model.StatusCompleted, job.Attempt, "")...); err != nil {
		t.Fatal(err)
	}
	ended := newClient()
	s2, err := stream.Job(deps, job.Id, "1", ended)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if done, err := s2.Continue(ctx); err != nil || !done || ended.describe() != "1 snapshot, 7 reset expired, 8 done" {
		t.Fatalf("a resume of the finished job from before the kept events: done %v (%v), got %s", done, err, ended.describe())
	}
}

// Events stored while their announcements were lost (pub/sub drops what is published while
// the hub's subscription reconnects), more of them than the job's log keeps: the hub's check
// finds them, and the stream tells its client the oldest are gone.
func TestJobStreamCatchingUpPastTheKeptEventsGetsAReset(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	job := testutil.NewFactory(t, store).Running("worker-1", time.Minute)
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	bus := events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 3, Retain: time.Minute, RetainDone: time.Minute})
	hub := startHub(t, events.NewHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: 50 * time.Millisecond}, store.Jobs.Ended))
	ctx := auth.WithIdentity(context.Background(), auth.Identity{Tenant: testutil.FactoryTenant, Actor: "test"})
	c := newClient()
	s, err := stream.Job(stream.JobDeps{Bus: bus, Hub: hub, Jobs: store.Jobs}, job.Id, "", c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if done, err := s.Continue(ctx); err != nil || done || c.describe() != "0 snapshot" {
		t.Fatalf("first Continue: done %v, %v, sent %s", done, err, c.describe())
	}

	// What the publish script does for events 1 to 5, without the PUBLISH: 3 to 5 are kept.
	keys := rediskeys.New(prefix)
	for i := 1; i <= 5; i++ {
		if err := rdb.RPush(ctx, keys.JobEventLog(job.Id), fmt.Sprintf(`%d log {"stream":"","line":"%d"}`, i, i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.LTrim(ctx, keys.JobEventLog(job.Id), -3, -1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, keys.JobEventSeq(job.Id), 5, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	continueUntil(t, s, c, 2)
	if want := "0 snapshot, 5 reset expired"; c.describe() != want {
		t.Fatalf("after missing more events than the log keeps: got %q, want %q", c.describe(), want)
	}
}

// Redis lost the tenant's keys (restarted empty, or failed over to a replica that never had
// them): the counter starts afresh from the time, above every number a client has, so the
// client's position looks merely old. Redis does not know it: the reset says lost, whether
// the stream resumes or is live when a new event comes.
func TestTenantStreamResetsLostWhenRedisLostTheTenantsEvents(t *testing.T) {
	t.Parallel()
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	bus := events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute, TenantMaxLen: 10})
	hub := startHub(t, events.NewTenantHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}))
	ctx := context.Background()
	owner := events.Owner{Tenant: "acme", FunctionID: "sleep", JobName: "nap"}
	progress := events.Pending{JobID: "job-1", Name: events.Progress, Owner: owner, Data: events.ProgressData{Progress: 1}}
	if err := bus.Publish(ctx, progress); err != nil {
		t.Fatal(err)
	}
	before, err := bus.TenantLastID(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	live := newClient()
	s, err := stream.Tenant(bus, hub, "acme", "", live)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Continue(ctx); err != nil {
		t.Fatal(err)
	}

	keys := rediskeys.New(prefix)
	if err := rdb.Del(ctx, keys.TenantEventLog("acme"), keys.TenantEventSeq("acme")).Err(); err != nil {
		t.Fatal(err)
	}
	resumed := newClient()
	s2, err := stream.Tenant(bus, hub, "acme", fmt.Sprint(before), resumed)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Continue(ctx); err != nil || len(resumed.sent) != 1 || !strings.HasSuffix(resumed.describe(), " reset lost") {
		t.Fatalf("a resume from %d after the loss: %v, got %s, want a reset (lost)", before, err, resumed.describe())
	}

	if err := bus.Publish(ctx, progress); err != nil {
		t.Fatal(err)
	}
	continueUntil(t, s, live, 3)
	if got := live.describe(); !strings.Contains(got, " reset lost, ") || live.sent[2].Event != events.Progress {
		t.Fatalf("a live stream after the loss got %s, want a reset (lost), then the new event", got)
	}
}

// Redis lost a job's events (restarted empty, failed over to a replica behind) and numbers
// the next ones from 1 again, below what the stream sent. Before the hub's check notices,
// the job published more events than the stream had sent: the stream dropped the first of
// them as sent and forwarded the rest, so its client silently missed them. The hub tells
// the renumbering by the announcements themselves: the client gets a reset (lost) and the
// new events in their numbering.
func TestJobStreamResetsWhenRedisNumbersTheJobsEventsAfresh(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	job := testutil.NewFactory(t, store).Running("worker-1", time.Minute)
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	bus := events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 1000, Retain: time.Minute, RetainDone: time.Minute})
	hub := startHub(t, events.NewHub(bus, config.EventsConf{ClientBuffer: 100, CheckInterval: time.Hour}, store.Jobs.Ended))
	ctx := auth.WithIdentity(context.Background(), auth.Identity{Tenant: testutil.FactoryTenant, Actor: "test"})
	c := newClient()
	s, err := stream.Job(stream.JobDeps{Bus: bus, Hub: hub, Jobs: store.Jobs}, job.Id, "", c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if done, err := s.Continue(ctx); err != nil || done {
		t.Fatalf("first Continue: done %v, %v", done, err)
	}
	progress := func(n int, msg string) {
		t.Helper()
		var evs []events.Pending
		for i := 1; i <= n; i++ {
			evs = append(evs, events.Pending{JobID: job.Id, Name: events.Progress,
				Data: events.ProgressData{Progress: int64(i), Total: int64(n), Message: msg}})
		}
		if err := bus.Publish(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	progress(3, "before")
	continueUntil(t, s, c, 4)
	keys := rediskeys.New(prefix)
	if err := rdb.Del(ctx, keys.JobEventLog(job.Id), keys.JobEventSeq(job.Id), keys.JobDone(job.Id)).Err(); err != nil {
		t.Fatal(err)
	}
	progress(5, "after the loss") // numbered 1 to 5
	continueUntil(t, s, c, 10)
	var got []string
	for _, ev := range c.sent[4:] {
		got = append(got, fmt.Sprintf("%d %s", ev.Id, ev.Event))
	}
	if want := "0 reset, 1 progress, 2 progress, 3 progress, 4 progress, 5 progress"; strings.Join(got, ", ") != want {
		t.Fatalf("after Redis numbered the job's events afresh the client got %q, want %q (all sent: %s)",
			strings.Join(got, ", "), want, c.describe())
	}
	if reset, ok := c.sent[4].Data.(events.ResetData); !ok || reset.Reason != events.ResetLost {
		t.Errorf("the reset says %#v, want %q", c.sent[4].Data, events.ResetLost)
	}
}
