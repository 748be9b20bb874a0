package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/functions"
	"jobs/internal/queue"
	"jobs/internal/recovery"
	"jobs/internal/testutil"
	"jobs/internal/worker"
	"jobs/model"
)

// Faults of MySQL and Redis injected by wrappers around the real clients (as asynq's
// testbroker does), and what a user of the jobs would check afterwards: nothing lost, and
// every job ran and finished exactly once.

var errInjected = errors.New("injected fault: connection reset")

// faultyStore is the real jobs table whose Finish fails as its fault says: before reaching
// MySQL, after committing (the reply is lost), or after committing only the first half of
// the batch (the connection drops mid-batch).
type faultyStore struct {
	worker.Store
	mu     sync.Mutex
	faults []finishFault // consumed one per Finish call; none left: the real Finish
	// wins counts, per job, the outcomes Finish told its caller took effect: what the
	// completer announces.
	wins map[string]int
	// away, if set, is how long MySQL is away from the first Finish call on: every Finish
	// until then fails before reaching it.
	away     time.Duration
	awayEnds time.Time
	// claimAway, likewise, from the first Claim call on.
	claimAway     time.Duration
	claimAwayEnds time.Time
	// claimRepliesLost is how many Claim calls commit and then fail (the reply is lost).
	claimRepliesLost int
}

func (s *faultyStore) Claim(ctx context.Context, ids []string, owner, token string, lease time.Duration) ([]*model.Jobs, error) {
	s.mu.Lock()
	if s.claimAway > 0 && s.claimAwayEnds.IsZero() {
		s.claimAwayEnds = time.Now().Add(s.claimAway)
	}
	away := time.Now().Before(s.claimAwayEnds)
	lost := !away && s.claimRepliesLost > 0
	if lost {
		s.claimRepliesLost--
	}
	s.mu.Unlock()
	if away {
		return nil, errInjected
	}
	won, err := s.Store.Claim(ctx, ids, owner, token, lease)
	if lost {
		return nil, errors.Join(err, errInjected)
	}
	return won, err
}

type finishFault int

const (
	failBeforeCommit finishFault = iota + 1
	failAfterCommit
	failMidBatch
)

func newFaultyStore(real worker.Store, faults ...finishFault) *faultyStore {
	return &faultyStore{Store: real, faults: faults, wins: map[string]int{}}
}

func (s *faultyStore) Finish(ctx context.Context, token string, outcomes []model.Outcome) ([]bool, error) {
	s.mu.Lock()
	if s.away > 0 && s.awayEnds.IsZero() {
		s.awayEnds = time.Now().Add(s.away)
	}
	if time.Now().Before(s.awayEnds) {
		s.mu.Unlock()
		return nil, errInjected
	}
	var fault finishFault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	committed := outcomes
	switch fault {
	case failBeforeCommit:
		return nil, errInjected
	case failMidBatch:
		committed = outcomes[:len(outcomes)/2]
	}
	won, err := s.Store.Finish(ctx, token, committed)
	if err != nil || fault != 0 {
		return nil, errors.Join(err, errInjected)
	}
	s.mu.Lock()
	for i, w := range won {
		if w {
			s.wins[committed[i].Id]++
		}
	}
	s.mu.Unlock()
	return won, nil
}

// finishTried reports whether Finish has been called.
func (s *faultyStore) finishTried() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.awayEnds.IsZero()
}

// winsOf reports how many times Finish told its caller that an outcome of job id took effect.
func (s *faultyStore) winsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wins[id]
}

// refusingStream is the real queue whose XADD is refused while refuse is set, whose first
// failAcks acks are lost, and whose acks wait while ackGate is open; it records the entries
// acked.
type refusingStream struct {
	*queue.Queue
	refuse   atomic.Bool
	failAcks atomic.Int32
	ackGate  chan struct{} // closed to let acks through; nil: no wait
	mu       sync.Mutex
	acked    map[string]int
}

func newRefusingStream(q *queue.Queue) *refusingStream {
	return &refusingStream{Queue: q, acked: map[string]int{}}
}

func (s *refusingStream) Add(ctx context.Context, ids ...string) error {
	if s.refuse.Load() {
		return fmt.Errorf("XADD: %w", errInjected)
	}
	return s.Queue.Add(ctx, ids...)
}

func (s *refusingStream) Ack(ctx context.Context, entries ...string) error {
	if s.ackGate != nil {
		<-s.ackGate
	}
	if s.failAcks.Add(-1) >= 0 {
		return fmt.Errorf("XACK: %w", errInjected)
	}
	err := s.Queue.Ack(ctx, entries...)
	if err == nil {
		s.mu.Lock()
		for _, e := range entries {
			s.acked[e]++
		}
		s.mu.Unlock()
	}
	return err
}

func (s *refusingStream) ackedTimes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, times := range s.acked {
		n += times
	}
	return n
}

// counted registers function "counted", which counts its runs per job and returns "ran":
// at once, or, while a gate is set, once the gate closes (or its attempt is stopped).
type counted struct {
	mu   sync.Mutex
	runs map[string]int
	live map[string]int // runs not yet returned
	gate chan struct{}
}

func (c *counted) registry(t *testing.T) *functions.Registry {
	t.Helper()
	c.runs, c.live = map[string]int{}, map[string]int{}
	def := &functions.Definition{ID: "counted", Kind: "test", Timeout: time.Minute, MaxAttempts: 3,
		Run: func(ctx context.Context, call functions.Call, _ functions.Reporter) (any, error) {
			c.mu.Lock()
			c.runs[call.JobID]++
			c.live[call.JobID]++
			gate := c.gate
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				c.live[call.JobID]--
				c.mu.Unlock()
			}()
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return "ran", nil
		}}
	r, err := functions.NewRegistry(append(functions.Builtins(), def)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// hold makes runs that start from now on wait until the returned function is called.
func (c *counted) hold() (release func()) {
	gate := make(chan struct{})
	c.mu.Lock()
	c.gate = gate
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.gate = nil
			c.mu.Unlock()
			close(gate)
		})
	}
}

func (c *counted) runsOf(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

func (c *counted) liveOf(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[id]
}

// startPool starts a pool on the given dependencies and returns its Stop; it is stopped
// when the test ends unless the test stops it first.
func startPool(t *testing.T, cfg worker.Config, store worker.Store, stream worker.Stream, d worker.Enqueuer,
	r *functions.Registry, b *bundle) (stop func()) {
	t.Helper()
	pool := worker.NewPool(cfg, store, stream, d, r, b.bus)
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { pool.Stop(context.Background()) }) }
	t.Cleanup(stop)
	return stop
}

// startSweeper runs the recovery sweep on the real queue and dispatcher until the test ends.
func startSweeper(t *testing.T, b *bundle) {
	t.Helper()
	s := recovery.NewSweeper(config.RecoveryConf{Interval: 100 * time.Millisecond, StaleEnqueue: time.Hour,
		DueInterval: 50 * time.Millisecond, ConsumerIdle: time.Hour}, b.jobs, b.queue, b.dispatch, b.bus)
	s.Start()
	t.Cleanup(s.Stop)
}

// A write of the pool fails (a dropped connection, a lost reply, MySQL away for seconds):
// the job still runs once and is finished once, without waiting for its lease to run out or
// its entry to sit ClaimIdle (both a minute here, far beyond the wait).
func TestAJobRunsOnceThroughAFailingWrite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(*faultyStore)
	}{
		{"finish fails before commit", func(s *faultyStore) { s.faults = []finishFault{failBeforeCommit, failBeforeCommit} }},
		{"finish's reply lost after commit", func(s *faultyStore) { s.faults = []finishFault{failAfterCommit, failAfterCommit} }},
		{"MySQL away for the outcome", func(s *faultyStore) { s.away = 3 * time.Second }},
		{"MySQL away for the claim", func(s *faultyStore) { s.claimAway = 2 * time.Second }},
		{"claim's reply lost after commit", func(s *faultyStore) { s.claimRepliesLost = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			fn := &counted{}
			store := newFaultyStore(b.jobs)
			tc.fault(store)
			cfg := poolConfig(time.Second)
			cfg.Lease, cfg.ClaimIdle = time.Minute, time.Minute
			stop := startPool(t, cfg, store, b.queue, b.dispatch, fn.registry(t), b)
			id := b.insert(t, "counted", `{}`)

			job := b.waitStatus(t, id, model.StatusCompleted)
			stop() // every write of the pool is over: the counts below are final
			if job.Attempt != 1 || job.Result.String != `"ran"` {
				t.Errorf("completed job: attempt %d result %v", job.Attempt, job.Result)
			}
			if runs, wins := fn.runsOf(id), store.winsOf(id); runs != 1 || wins != 1 {
				t.Errorf("the job ran %d times and was finished %d times, want once each", runs, wins)
			}
		})
	}
}

// A pool stopping while MySQL is away does not wait out the lease for its outcomes: it
// stops within go-zero's force-quit margin (15 s past the grace), leaving the job to the
// lease reaper.
func TestStopDuringAMySQLOutageEndsWithinTheForceQuitMargin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	store := newFaultyStore(b.jobs)
	store.away = time.Hour
	cfg := poolConfig(time.Second)
	cfg.Lease = time.Minute
	stop := startPool(t, cfg, store, b.queue, b.dispatch, fn.registry(t), b)
	id := b.insert(t, "counted", `{}`)
	if !testutil.Eventually(10*time.Second, store.finishTried) {
		t.Fatal("the outcome never reached Finish")
	}

	began := time.Now()
	stop()
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("Stop took %s during the outage, want within the 15 s force-quit margin", took)
	}
	if job := b.waitStatus(t, id, model.StatusRunning); job.Attempt != 1 {
		t.Errorf("job left to the reaper: attempt %d", job.Attempt)
	}
}

func TestOutcomesOfABatchCutMidwayAreAllWrittenOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	registry := fn.registry(t)
	store := newFaultyStore(b.jobs, failMidBatch, failMidBatch, failMidBatch)
	cfg := poolConfig(time.Second)
	cfg.Concurrency, cfg.BatchSize = 16, 16
	stop := startPool(t, cfg, store, b.queue, b.dispatch, registry, b)
	// Every job starts before any ends, so their outcomes reach MySQL in batches.
	release := fn.hold()
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = b.insert(t, "counted", `{}`)
	}
	for _, id := range ids {
		b.waitStatus(t, id, model.StatusRunning)
	}
	release()
	for _, id := range ids {
		b.waitStatus(t, id, model.StatusCompleted)
	}
	stop() // every write of the pool is over: the counts below are final
	for _, id := range ids {
		job := b.waitStatus(t, id, model.StatusCompleted)
		if job.Attempt != 1 || job.Result.String != `"ran"` {
			t.Errorf("job %s: attempt %d result %v", id, job.Attempt, job.Result)
		}
		if runs, wins := fn.runsOf(id), store.winsOf(id); runs != 1 || wins != 1 {
			t.Errorf("job %s ran %d times and was finished %d times, want once each", id, runs, wins)
		}
	}
}

func TestAStartWhoseXADDIsRefusedIsEnqueuedByTheSweep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	stream := newRefusingStream(b.queue)
	stream.refuse.Store(true)
	refusing := dispatch.New(b.jobs, stream)

	store := testutil.NewFactory(t, &testutil.Store{Jobs: b.jobs})
	job := store.Pending(func(j *model.Jobs) { j.FunctionId = "counted" })
	if err := refusing.Enqueue(context.Background(), job.Id); !errors.Is(err, errInjected) {
		t.Fatalf("enqueue with XADD refused: %v", err)
	}
	if marked := store.Get(job.Id); marked.State() != model.StatusPending || marked.EnqueuedAt.Valid {
		t.Fatalf("job after a refused XADD: status %s enqueued %v, want pending and marked unenqueued",
			marked.Status, marked.EnqueuedAt)
	}

	startPool(t, poolConfig(time.Second), b.jobs, b.queue, b.dispatch, fn.registry(t), b)
	startSweeper(t, b)
	done := b.waitStatus(t, job.Id, model.StatusCompleted)
	if done.Attempt != 1 || fn.runsOf(job.Id) != 1 {
		t.Errorf("attempt %d after %d runs, want 1 and 1", done.Attempt, fn.runsOf(job.Id))
	}
}

func TestAHandBackWhoseXADDIsRefusedRunsAgainLater(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	registry := fn.registry(t)
	stream := newRefusingStream(b.queue)
	stream.refuse.Store(true)
	stopFirst := startPool(t, poolConfig(200*time.Millisecond), b.jobs, b.queue, dispatch.New(b.jobs, stream), registry, b)
	release := fn.hold()
	defer release()
	id := b.insert(t, "counted", `{}`)
	b.waitStatus(t, id, model.StatusRunning)

	// Shutdown hands the job back; its XADD is refused, so it must stay marked unenqueued.
	stopFirst()
	handed := b.waitStatus(t, id, model.StatusPending)
	if handed.EnqueuedAt.Valid || handed.Attempt != 1 {
		t.Fatalf("handed-back job: enqueued %v attempt %d, want unenqueued after attempt 1", handed.EnqueuedAt, handed.Attempt)
	}

	release()
	startPool(t, poolConfig(time.Second), b.jobs, b.queue, b.dispatch, registry, b)
	startSweeper(t, b)
	done := b.waitStatus(t, id, model.StatusCompleted)
	if done.Attempt != 2 || fn.runsOf(id) != 2 {
		t.Errorf("attempt %d after %d runs, want the second attempt to finish it", done.Attempt, fn.runsOf(id))
	}
}

// A job cancelled after its claim committed but before it ran (the claim's ack still on its
// way) never begins: the cancel signal is kept for it, not dropped because nothing ran yet,
// and it does not wait for the next heartbeat (a minute here).
func TestAJobCancelledBetweenItsClaimAndItsRunNeverBegins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	stream := newRefusingStream(b.queue)
	stream.ackGate = make(chan struct{})
	cfg := poolConfig(time.Second)
	cfg.Lease, cfg.Heartbeat = 3*time.Minute, time.Minute
	pool := worker.NewPool(cfg, b.jobs, stream, b.dispatch, fn.registry(t), b.bus)
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	openGate := sync.OnceFunc(func() { close(stream.ackGate) })
	stop := sync.OnceFunc(func() { pool.Stop(context.Background()) })
	t.Cleanup(func() { openGate(); stop() })
	id := b.insert(t, "counted", `{}`)

	b.waitStatus(t, id, model.StatusRunning) // claimed; the ack waits at the gate
	ctx := context.Background()
	if won, err := b.jobs.Cancel(ctx, id, model.StatusRunning); err != nil || !won {
		t.Fatalf("cancel: %v %v", won, err)
	}
	if err := b.queue.PublishCancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(10*time.Second, func() bool { return worker.CancelHeardWhileClaiming(pool, id) }) {
		t.Fatal("the pool never heard the cancel signal")
	}
	openGate()

	if !testutil.Eventually(10*time.Second, func() bool { return stream.ackedTimes() == 1 }) {
		t.Fatal("the claim's entry was never acked")
	}
	stop() // every execution is over: the count below is final
	if runs := fn.runsOf(id); runs != 0 {
		t.Errorf("the cancelled job's function ran %d times, want never", runs)
	}
	if job := b.waitStatus(t, id, model.StatusCancelled); job.Attempt != 1 {
		t.Errorf("cancelled job: attempt %d", job.Attempt)
	}
}

func TestALostAckRunsTheJobOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	stream := newRefusingStream(b.queue)
	stream.failAcks.Store(1)
	startPool(t, poolConfig(time.Second), b.jobs, stream, b.dispatch, fn.registry(t), b)
	id := b.insert(t, "counted", `{}`)
	b.waitStatus(t, id, model.StatusCompleted)

	// The unacked entry comes back after ClaimIdle; its claim finds the job finished and
	// acks it. Only then is it certain no second run is coming.
	if !testutil.Eventually(10*time.Second, func() bool { return stream.ackedTimes() == 1 }) {
		t.Fatal("the entry whose ack was lost was never acked")
	}
	backlog, err := b.queue.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if runs := fn.runsOf(id); runs != 1 || backlog != 0 {
		t.Errorf("the job ran %d times, %d entries left on the stream; want 1 and 0", runs, backlog)
	}
}

// A worker whose lease ran out before its heartbeat (a long pause) may claim the job again
// itself once the reaper has handed it back. Its earlier attempt has lost the lease as surely
// as if another worker had claimed the job, and stops; it must not run on beside the new
// one, out of reach of the job's cancel, which stops only the attempt the job is at.
func TestAnAttemptReclaimedByItsOwnWorkerStopsTheEarlierOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := &counted{}
	cfg := poolConfig(time.Second)
	cfg.Lease, cfg.Heartbeat = time.Second, time.Hour // the lease runs out, no heartbeat comes
	startPool(t, cfg, b.jobs, b.queue, b.dispatch, fn.registry(t), b)
	release := fn.hold()
	t.Cleanup(release)
	id := b.insert(t, "counted", `{}`)
	if !testutil.Eventually(10*time.Second, func() bool { return fn.runsOf(id) == 1 }) {
		t.Fatal("the job never began")
	}

	ctx := context.Background()
	var reaped []model.Reaped
	if !testutil.Eventually(10*time.Second, func() bool {
		expired, err := b.jobs.ExpiredLeases(ctx, 10)
		if err != nil || len(expired) == 0 {
			return false
		}
		reaped, err = b.jobs.Reap(ctx, uuid.NewString(), expired)
		return err == nil && len(reaped) == 1
	}) {
		t.Fatal("the job's lease never expired to be reaped")
	}
	if err := b.dispatch.Enqueue(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(10*time.Second, func() bool { return fn.runsOf(id) == 2 }) {
		t.Fatal("the reaped job was never claimed again")
	}
	if !testutil.Eventually(5*time.Second, func() bool { return fn.liveOf(id) == 1 }) {
		t.Fatalf("%d runs of the job go on after it was claimed again; want only attempt 2's", fn.liveOf(id))
	}

	release()
	if job := b.waitStatus(t, id, model.StatusCompleted); job.Attempt != 2 {
		t.Errorf("completed at attempt %d, want 2", job.Attempt)
	}
}
