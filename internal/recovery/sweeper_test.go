package recovery_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/queue"
	"jobs/internal/recovery"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
	"jobs/model"
)

// The sweeper against a real MariaDB and Redis; faults and races are injected by wrappers
// around the real jobs table.

var ctx = context.Background()

type testBundle struct {
	store   *testutil.Store
	factory *testutil.Factory
	queue   *queue.Queue
	bus     *events.Bus
	rdb     *redis.Client
	prefix  string
	stream  string // the queue's stream key, for what a test does to it behind the queue's back
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	t.Parallel()
	store := testutil.NewStore(t)
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	return &testBundle{store: store, factory: testutil.NewFactory(t, store), queue: queue.New(rdb, prefix),
		bus:    events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute}),
		rdb:    rdb,
		prefix: prefix,
		stream: rediskeys.New(prefix).Stream()}
}

// sweeper returns a sweeper over jobs (the real table, or a wrapper of it) and b's queue.
func (b *testBundle) sweeper(jobs model.JobsModel) *recovery.Sweeper {
	return recovery.NewSweeper(config.RecoveryConf{Interval: time.Hour, DueInterval: time.Hour, StaleEnqueue: time.Hour,
		ConsumerIdle: time.Hour}, jobs, b.queue, dispatch.New(jobs, b.queue), b.bus)
}

// onMark is the real jobs table that runs before once, the first time MarkEnqueued is
// called: what another process does between the sweep's read of the jobs to enqueue and
// its mark of them.
type onMark struct {
	model.JobsModel
	once   sync.Once
	before func()
}

func (m *onMark) MarkEnqueued(ctx context.Context, ids []string) error {
	m.once.Do(m.before)
	return m.JobsModel.MarkEnqueued(ctx, ids)
}

// drain reads and acks every entry on the stream, as workers whose claims lost would.
func (b *testBundle) drain(t *testing.T) {
	t.Helper()
	if err := b.queue.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := b.queue.Read(ctx, "drain", 100, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return
		}
		for _, d := range got {
			if err := b.queue.Ack(ctx, d.EntryID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A job the sweep is about to enqueue is claimed meanwhile (another sweeper enqueued it
// too) and fails with a retry a while ahead: the sweep's mark must not record the retry as
// enqueued, or the due pass would skip it until StaleEnqueue (an hour here) instead of
// enqueueing it once its backoff has passed.
func TestARetryClaimedBeforeTheSweepsMarkIsEnqueuedWhenDue(t *testing.T) {
	b := setup(t)
	job := b.factory.Pending(testutil.Unenqueued, testutil.WithMaxAttempts(3))
	const backoff = 500 * time.Millisecond
	jobs := &onMark{JobsModel: b.store.Jobs, before: func() {
		won, err := b.store.Jobs.Claim(ctx, []string{job.Id}, "other", uuid.NewString(), time.Minute)
		if err != nil || len(won) != 1 {
			t.Errorf("claim: won %d, %v", len(won), err)
			return
		}
		retry := model.Outcome{Id: job.Id, Attempt: won[0].Attempt, Kind: model.OutcomeRetry, Error: "boom", RetryDelay: backoff}
		if ok, err := b.store.Jobs.Finish(ctx, uuid.NewString(), []model.Outcome{retry}); err != nil || !ok[0] {
			t.Errorf("retry: won %v, %v", ok, err)
		}
	}}
	s := b.sweeper(jobs)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.factory.Get(job.Id); got.State() != model.StatusPending || got.Attempt != 1 {
		t.Fatalf("after the race: status %s attempt %d, want pending after attempt 1", got.Status, got.Attempt)
	}
	b.drain(t) // the sweep's early entry: a worker's claim skips it (not yet due) and acks it

	if !testutil.Eventually(5*time.Second, func() bool {
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		on, err := b.queue.Deliverable(ctx, []string{job.Id})
		return err == nil && on[job.Id]
	}) {
		got := b.factory.Get(job.Id)
		t.Fatalf("the retry was not enqueued within 5 s of its backoff (%s): run_at %v, enqueued_at %v", backoff, got.RunAt, got.EnqueuedAt)
	}
}

// Redis is away: the sweep cannot check its marker or enqueue, but reaping needs only MySQL,
// so the job of a dead worker that has no attempts left is failed now (and its callback
// scheduled), not left running until Redis is back.
func TestASweepWithRedisAwayStillReapsExpiredLeases(t *testing.T) {
	b := setup(t)
	proxy := testutil.NewProxy(t, testutil.RedisAddr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	b.queue = queue.New(rdb, testutil.RedisPrefix(t))
	proxy.Cut()
	job := b.factory.Expired("dead-worker", testutil.WithCallback("https://example.com/hook"))

	if err := b.sweeper(b.store.Jobs).Sweep(ctx); err == nil {
		t.Error("a sweep with Redis away reported no error")
	}
	got := b.factory.Get(job.Id)
	if got.State() != model.StatusFailed || got.Error != model.ErrorWorkerLost || !got.CallbackDueAt.Valid {
		t.Errorf("expired job after the sweep: status %s error %q callback due %v, want failed with %q and its callback due",
			got.Status, got.Error, got.CallbackDueAt, model.ErrorWorkerLost)
	}
}

// lostMarkReply is the real jobs table whose first MarkEnqueued commits and then fails, as
// when the connection drops before MySQL's reply arrives.
type lostMarkReply struct {
	model.JobsModel
	once sync.Once
}

func (m *lostMarkReply) MarkEnqueued(ctx context.Context, ids []string) error {
	err := m.JobsModel.MarkEnqueued(ctx, ids)
	m.once.Do(func() { err = errors.Join(err, errors.New("injected fault: connection reset after the commit")) })
	return err
}

// The sweep's mark of the jobs it enqueues commits but its reply is lost: the jobs are not on
// the stream, and the next pass must enqueue them, not StaleEnqueue (an hour here) later.
func TestAnEnqueueMarkWhoseReplyIsLostIsTakenUpByTheNextPass(t *testing.T) {
	b := setup(t)
	job := b.factory.Pending(testutil.Unenqueued)
	s := b.sweeper(&lostMarkReply{JobsModel: b.store.Jobs})
	if err := s.Sweep(ctx); err == nil {
		t.Error("a sweep whose mark failed reported no error")
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if on, err := b.queue.Deliverable(ctx, []string{job.Id}); err != nil || !on[job.Id] {
		got := b.factory.Get(job.Id)
		t.Fatalf("the job is not on the stream after the next pass (%v): enqueued_at %v", err, got.EnqueuedAt)
	}
}

// lostReapReply is the real jobs table whose first reap commits and then fails, as when the
// connection drops before MySQL's reply arrives.
type lostReapReply struct {
	model.JobsModel
	once sync.Once
}

func (m *lostReapReply) Reap(ctx context.Context, token string, expired []model.Expired) ([]model.Reaped, error) {
	reaped, err := m.JobsModel.Reap(ctx, token, expired)
	m.once.Do(func() {
		reaped, err = nil, errors.Join(err, errors.New("injected fault: connection reset after the commit"))
	})
	return reaped, err
}

// The reap of a dead worker's last attempt commits but its reply is lost: the job is failed,
// and the next sweep, which no longer finds it expired, must still announce it (its status
// and done events, jobs_finished_total), or its tenant and its streams never hear of it.
func TestAReapWhoseReplyIsLostIsAnnouncedByTheNextSweep(t *testing.T) {
	b := setup(t)
	job := b.factory.Expired("dead-worker")
	s := b.sweeper(&lostReapReply{JobsModel: b.store.Jobs})
	if err := s.Sweep(ctx); err == nil {
		t.Error("a sweep whose reap failed reported no error")
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.factory.Get(job.Id); got.State() != model.StatusFailed {
		t.Fatalf("the reaped job is %s, want failed", got.Status)
	}
	evs, err := b.bus.Range(ctx, job.Id, 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Name+" "+string(ev.Data))
	}
	want := []string{`status {"status":"failed","attempt":1,"error":"worker lost"}`, `done {"status":"failed","attempt":1,"error":"worker lost"}`}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("the job's events after the sweeps:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
}

// ageMarks moves the enqueue mark of every pending job two hours back, past the sweepers'
// StaleEnqueue (an hour): time travel for jobs that have waited that long.
func (b *testBundle) ageMarks(t *testing.T) {
	t.Helper()
	testutil.Exec(t, b.store.DB, "UPDATE `jobs` SET `enqueued_at` = now(3) - interval 2 hour "+
		"WHERE `status` = 'pending' AND `enqueued_at` IS NOT NULL")
}

// read reads every entry a new consumer of the group gets and returns how often each job came.
func (b *testBundle) read(t *testing.T, consumer string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for {
		ds, err := b.queue.Read(ctx, consumer, 1000, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return got
		}
		for _, d := range ds {
			got[d.JobID]++
		}
	}
}

// A backlog has waited on the stream longer than StaleEnqueue with nothing consuming it (every
// worker busy), part of it read by a worker that has not claimed it yet. A worker will get
// every one of these jobs, so the sweep must add none of them again; it used to add each one
// again at every StaleEnqueue, growing the stream with the backlog.
func TestAStaleBacklogOnTheStreamIsNotEnqueuedAgain(t *testing.T) {
	b := setup(t)
	const n, held = 2000, 100
	ids := b.factory.PendingMany(n)
	if err := b.queue.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.queue.Add(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	if ds, err := b.queue.Read(ctx, "busy", held, time.Millisecond); err != nil || len(ds) != held {
		t.Fatalf("a worker's read: %d entries, %v", len(ds), err)
	}
	b.ageMarks(t)
	s := b.sweeper(b.store.Jobs)
	for range 2 {
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := b.queue.Backlog(ctx); err != nil || got != n {
		t.Fatalf("the stream holds %d entries after two sweeps (%v), want the backlog's %d", got, err, n)
	}
	if got := b.read(t, "next"); len(got) != n-held {
		t.Errorf("a worker reads %d jobs after the sweeps, want %d", len(got), n-held)
	}
}

// Stale jobs whose entries no worker will ever get: one never added (its process died before
// the XADD), one whose entry was deleted, one read by a consumer that was then removed from the
// group (its pending entry went with it). The sweep must enqueue each of them again, and
// only them: beside them wait a job on the stream and one read and held by a live worker.
func TestAStaleJobNoWorkerWillGetIsEnqueuedAgain(t *testing.T) {
	b := setup(t)
	if err := b.queue.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	ids := b.factory.PendingMany(5)
	never, deleted, orphaned, held, waiting := ids[0], ids[1], ids[2], ids[3], ids[4]
	for _, step := range []struct {
		id       string
		consumer string
	}{{orphaned, "gone"}, {held, "busy"}, {deleted, "trimmer"}} {
		if err := b.queue.Add(ctx, step.id); err != nil {
			t.Fatal(err)
		}
		ds, err := b.queue.Read(ctx, step.consumer, 1, time.Millisecond)
		if err != nil || len(ds) != 1 || ds[0].JobID != step.id {
			t.Fatalf("%s's read: %v, %v", step.consumer, ds, err)
		}
		if step.id == deleted {
			if err := b.rdb.XDel(ctx, b.stream, ds[0].EntryID).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.rdb.XGroupDelConsumer(ctx, b.stream, "workers", "gone").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.queue.Add(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	b.ageMarks(t)
	if err := b.sweeper(b.store.Jobs).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.read(t, "next")
	want := map[string]int{never: 1, deleted: 1, orphaned: 1, waiting: 1}
	if len(got) != len(want) || got[never] != 1 || got[deleted] != 1 || got[orphaned] != 1 || got[waiting] != 1 {
		t.Errorf("a worker reads after the sweep (job: times): %v\nwant %v (the held job %s stays with its worker)", got, want, held)
	}
}

// An operator recreated the consumer group at the stream's end ($): the entries before it are
// never delivered, so their jobs, once stale, are enqueued again.
func TestStaleJobsBeforeARecreatedGroupAreEnqueuedAgain(t *testing.T) {
	b := setup(t)
	ids := b.factory.PendingMany(3)
	if err := b.queue.Add(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.XGroupCreateMkStream(ctx, b.stream, "workers", "$").Err(); err != nil {
		t.Fatal(err)
	}
	b.ageMarks(t)
	if err := b.sweeper(b.store.Jobs).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.read(t, "next"); len(got) != len(ids) {
		t.Errorf("a worker reads %v after the sweep, want each of %v once", got, ids)
	}
}

// A stale job's entry is lost after a check found it on the stream (deleted, or its consumer
// removed with it): the next check, StaleEnqueue/10 later, finds it missing.
func TestAnEntryLostAfterACheckIsFoundByTheNextCheck(t *testing.T) {
	b := setup(t)
	job := b.factory.Pending()
	if err := b.queue.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.queue.Add(ctx, job.Id); err != nil {
		t.Fatal(err)
	}
	b.ageMarks(t)
	s := recovery.NewSweeper(config.RecoveryConf{Interval: time.Hour, DueInterval: time.Hour, StaleEnqueue: time.Second,
		ConsumerIdle: time.Hour}, b.store.Jobs, b.queue, dispatch.New(b.store.Jobs, b.queue), b.bus)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.queue.Backlog(ctx); err != nil || n != 1 {
		t.Fatalf("after the first check the stream holds %d entries (%v), want the job's one", n, err)
	}
	b.drain(t) // the entry is lost; the job stays pending with its stale mark
	if !testutil.Eventually(5*time.Second, func() bool {
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		on, err := b.queue.Deliverable(ctx, []string{job.Id})
		return err == nil && on[job.Id]
	}) {
		t.Fatal("the job whose entry was lost was not enqueued again within 5 s (checks every 100 ms)")
	}
}

// stalledReaper is the real jobs table whose read of expired leases waits until the sweeper
// stops: a sweep that takes long (a large backlog to check, a slow statement).
type stalledReaper struct{ model.JobsModel }

func (m stalledReaper) ExpiredLeases(ctx context.Context, limit int) ([]model.Expired, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A delayed job becomes due while a sweep takes long: the due pass must enqueue it within
// about DueInterval all the same. It shared the sweep's goroutine, so it waited for the sweep.
func TestADelayedJobIsEnqueuedWhenDueDuringASlowSweep(t *testing.T) {
	b := setup(t)
	jobs := stalledReaper{b.store.Jobs}
	s := recovery.NewSweeper(config.RecoveryConf{Interval: time.Hour, DueInterval: 20 * time.Millisecond,
		StaleEnqueue: time.Hour, ConsumerIdle: time.Hour}, jobs, b.queue, dispatch.New(jobs, b.queue), b.bus)
	job := b.factory.Pending(testutil.WithRunAt(time.Now().Add(200 * time.Millisecond)))
	s.Start()
	t.Cleanup(s.Stop)
	if !testutil.Eventually(5*time.Second, func() bool {
		on, err := b.queue.Deliverable(ctx, []string{job.Id})
		return err == nil && on[job.Id]
	}) {
		t.Fatal("the delayed job was not enqueued within 5 s of its runAt while a sweep ran")
	}
}

// TestASweepOverAStaleBacklogOf100kJobs times the sweep over a backlog of 100,000 jobs that has
// waited on the stream longer than StaleEnqueue, nothing consuming it, and counts the entries
// it adds. It runs only with JOBS_BACKLOG_BENCH=1 (make bench-backlog; docs/BENCHMARKS.md,
// "A stale backlog").
func TestASweepOverAStaleBacklogOf100kJobs(t *testing.T) {
	if os.Getenv("JOBS_BACKLOG_BENCH") == "" {
		t.Skip("set JOBS_BACKLOG_BENCH=1 (make bench-backlog) to sweep a backlog of 100,000 jobs")
	}
	b := setup(t)
	const n = 100_000
	ids := b.factory.PendingMany(n)
	if err := b.queue.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		if err := b.queue.Add(ctx, ids[start:start+1000]...); err != nil {
			t.Fatal(err)
		}
	}
	s := b.sweeper(b.store.Jobs)
	if err := s.Sweep(ctx); err != nil { // the first sweep of a Redis: it writes the epoch marker
		t.Fatal(err)
	}
	b.ageMarks(t)
	for _, pass := range []string{"the first check", "the next sweep", "a later check"} {
		if pass == "a later check" { // the next sweeper's turn (StaleEnqueue/10 later)
			if err := b.rdb.Del(ctx, rediskeys.New(b.prefix).StaleCheck()).Err(); err != nil {
				t.Fatal(err)
			}
		}
		began := time.Now()
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		entries, err := b.queue.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sweep (%s): %s, the stream holds %d entries for %d jobs", pass, took.Round(time.Millisecond), entries, n)
	}
}

// TestASweepEnqueuesAnUnmarkedBacklogOf100kJobs times the sweep that enqueues 100,000 pending
// jobs without an enqueue mark, as a Redis outage during their starts or a Redis that lost the
// stream leaves them, and fails beyond 10 s. It runs only with JOBS_BACKLOG_BENCH=1 (make
// bench-backlog; docs/BENCHMARKS.md, "A stale backlog").
func TestASweepEnqueuesAnUnmarkedBacklogOf100kJobs(t *testing.T) {
	if os.Getenv("JOBS_BACKLOG_BENCH") == "" {
		t.Skip("set JOBS_BACKLOG_BENCH=1 (make bench-backlog) to enqueue a backlog of 100,000 jobs")
	}
	b := setup(t)
	const n = 100_000
	b.factory.PendingMany(n, testutil.Unenqueued)
	began := time.Now()
	if err := b.sweeper(b.store.Jobs).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	entries, err := b.queue.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sweep of %d unmarked jobs: %s, the stream holds %d entries", n, took.Round(time.Millisecond), entries)
	if entries != n || took > 10*time.Second {
		t.Errorf("the sweep took %s and enqueued %d of %d jobs; want all within 10 s", took.Round(time.Millisecond), entries, n)
	}
}

// timedEnqueuedIDs is the real jobs table that records how long its last read of the enqueued
// pending jobs took.
type timedEnqueuedIDs struct {
	model.JobsModel
	took time.Duration
}

func (m *timedEnqueuedIDs) EnqueuedIDs(ctx context.Context) ([]string, error) {
	began := time.Now()
	defer func() { m.took = time.Since(began) }()
	return m.JobsModel.EnqueuedIDs(ctx)
}

// TestASweepAfterALostRedisOver100kJobs times the sweeps that find the epoch marker gone over
// 100,000 pending jobs marked enqueued, and their read of those jobs' ids: once as a Redis that
// lost everything leaves them (the sweep enqueues them all again), once as a first worker start
// on a Redis whose stream holds them all (it enqueues none). It runs only with
// JOBS_BACKLOG_BENCH=1 (make bench-backlog; docs/BENCHMARKS.md, "A stale backlog").
func TestASweepAfterALostRedisOver100kJobs(t *testing.T) {
	if os.Getenv("JOBS_BACKLOG_BENCH") == "" {
		t.Skip("set JOBS_BACKLOG_BENCH=1 (make bench-backlog) to recover 100,000 jobs from a lost Redis")
	}
	b := setup(t)
	const n = 100_000
	b.factory.PendingMany(n)
	jobs := &timedEnqueuedIDs{JobsModel: b.store.Jobs}
	s := b.sweeper(jobs)
	for _, pass := range []string{"Redis lost the stream", "the stream holds every job"} {
		if err := b.rdb.Del(ctx, rediskeys.New(b.prefix).Epoch()).Err(); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		entries, err := b.queue.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sweep (%s): %s, of which reading the enqueued ids %s; the stream holds %d entries for %d jobs",
			pass, took.Round(time.Millisecond), jobs.took.Round(time.Millisecond), entries, n)
		if entries != n {
			t.Errorf("the stream holds %d entries after the sweep, want one per job (%d)", entries, n)
		}
	}
}
