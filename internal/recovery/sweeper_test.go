package recovery_test

import (
	"context"
	"errors"
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
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	t.Parallel()
	store := testutil.NewStore(t)
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	return &testBundle{store: store, factory: testutil.NewFactory(t, store), queue: queue.New(rdb, prefix),
		bus: events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute})}
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
		on, err := b.queue.JobIDs(ctx)
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
	if on, err := b.queue.JobIDs(ctx); err != nil || !on[job.Id] {
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
