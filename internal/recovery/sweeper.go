// Package recovery brings back work that a dead worker or a lost Redis left behind: it
// reaps expired leases and enqueues pending jobs that are not on the stream, among them
// delayed jobs once their run_at has passed.
package recovery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/metrics"
	"jobs/internal/queue"
	"jobs/model"
)

// sweepBatch is how many unenqueued jobs one round trip enqueues.
const sweepBatch = 500

// staleCheckLimit is how many stale jobs, oldest mark first, one check of the stream takes.
// A job the check leaves out (behind 100,000 others whose enqueue is stale) is checked once
// older ones are claimed; enqueued again, it would wait behind them on the stream anyway.
const staleCheckLimit = 100_000

// staleChecksPer is how many checks for stale enqueues all sweepers together make per
// StaleEnqueue at most: a job missing from the stream is enqueued again within about
// StaleEnqueue + StaleEnqueue/staleChecksPer of its mark, unless staleCheckLimit older
// stale jobs wait on the stream ahead of it.
const staleChecksPer = 10

// Sweeper runs the recovery sweep periodically. Every step is a compare-and-set or an
// idempotent enqueue, so any number of sweepers may run at once.
type Sweeper struct {
	cfg        config.RecoveryConf
	jobs       model.JobsModel
	queue      *queue.Queue
	dispatcher *dispatch.Dispatcher
	events     *events.Bus
	log        logx.Logger
	stop       context.CancelFunc
	running    sync.WaitGroup
	// enqueueMu keeps the sweep's and the due pass's enqueueing apart: run at once, they
	// would both put the same jobs on the stream.
	enqueueMu sync.Mutex
	// failedReap is the reap whose write failed, retried first by the next sweep.
	failedReap *reapTry
}

// NewSweeper returns a sweeper; Start starts it.
func NewSweeper(cfg config.RecoveryConf, jobs model.JobsModel, q *queue.Queue, d *dispatch.Dispatcher, bus *events.Bus) *Sweeper {
	return &Sweeper{cfg: cfg, jobs: jobs, queue: q, dispatcher: d, events: bus,
		log: logx.WithContext(context.Background())}
}

// Start sweeps at once and then every Interval until Stop, and enqueues due jobs every
// DueInterval on a goroutine of its own: a long sweep (a large backlog to check, a slow
// statement) must not hold back a delayed job that has become due.
func (s *Sweeper) Start() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.running.Go(func() {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Errorf("recovery: sweep: %v", err)
		}
		s.every(ctx, s.cfg.Interval, s.Sweep)
	})
	if s.cfg.DueInterval > 0 {
		s.running.Go(func() { s.every(ctx, s.cfg.DueInterval, s.enqueueMissing) })
	}
}

// every runs pass every interval until ctx is done, logging its errors.
func (s *Sweeper) every(ctx context.Context, interval time.Duration, pass func(context.Context) error) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if err := pass(ctx); err != nil && ctx.Err() == nil {
				s.log.Errorf("recovery: sweep: %v", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// Stop ends the sweeps and waits for the current ones.
func (s *Sweeper) Stop() {
	if s.stop != nil {
		s.stop()
		s.running.Wait()
	}
}

// Sweep runs one recovery pass. A step that fails does not keep the others from running:
// with Redis away the reaper, which needs only MySQL, still fails the jobs of dead workers
// that have no attempts left.
func (s *Sweeper) Sweep(ctx context.Context) error {
	lostErr := s.recoverLostRedis(ctx)
	reapErr := s.reapExpired(ctx)
	staleErr := s.checkStale(ctx)
	enqueueErr := s.enqueueMissing(ctx)
	removed, removeErr := s.queue.RemoveIdleConsumers(ctx, s.cfg.ConsumerIdle)
	if len(removed) > 0 {
		s.log.Infof("recovery: removed %d consumers idle for %s with nothing pending (workers that are gone): %v",
			len(removed), s.cfg.ConsumerIdle, removed)
	}
	return errors.Join(lostErr, reapErr, staleErr, enqueueErr, removeErr)
}

// reapTry is one reap: its token and the expired jobs it moves.
type reapTry struct {
	token string
	jobs  []model.Expired
}

// reapExpired moves the jobs of lost workers on and announces each move. A reap that fails
// is retried, with its token, before any other: some of its jobs may have moved with the
// reply lost, and no later sweep finds them expired, so only that retry announces them.
func (s *Sweeper) reapExpired(ctx context.Context) error {
	for {
		try, retry := s.failedReap, s.failedReap != nil
		if !retry {
			expired, err := s.jobs.ExpiredLeases(ctx, sweepBatch)
			if err != nil || len(expired) == 0 {
				return err
			}
			try = &reapTry{token: uuid.NewString(), jobs: expired}
		}
		reaped, err := s.jobs.Reap(ctx, try.token, try.jobs)
		if err != nil {
			s.failedReap = try
			return err
		}
		s.failedReap = nil
		var announce []events.Pending
		for _, r := range reaped {
			if r.Status == model.StatusFailed {
				metrics.JobFinished(r.FunctionId, string(r.Status))
			}
			announce = append(announce, events.StatusChange(r.Id, events.Owner{Tenant: r.TenantId, FunctionID: r.FunctionId, JobName: r.Name},
				r.Status, r.Attempt, model.ErrorWorkerLost)...)
		}
		if len(reaped) > 0 {
			s.log.Infof("recovery: %d jobs of lost workers moved on (back to pending, or failed with %q)",
				len(reaped), model.ErrorWorkerLost)
			if perr := s.events.Publish(ctx, announce...); perr != nil {
				s.log.Errorf("recovery: announce %d reaped jobs: %v", len(reaped), perr)
			}
		}
		if !retry && len(try.jobs) < sweepBatch {
			return nil
		}
	}
}

// recoverLostRedis notices a Redis that restarted empty or was flushed (its epoch marker
// is gone) and marks the pending jobs missing from the stream for re-enqueueing. The marks
// are written before the marker, so a sweeper that dies in between leaves the marker missing
// for the next one.
func (s *Sweeper) recoverLostRedis(ctx context.Context) error {
	lost, err := s.queue.EpochLost(ctx)
	if err != nil || !lost {
		return err
	}
	n, err := s.markMissing(ctx)
	if err != nil {
		return err
	}
	if err := s.queue.EnsureGroup(ctx); err != nil {
		return err
	}
	if n > 0 {
		s.log.Infof("recovery: Redis has no dispatch state (restarted or flushed); re-enqueueing %d pending jobs", n)
	}
	return s.queue.SetEpoch(ctx)
}

// markMissing marks for re-enqueueing the pending jobs recorded as enqueued that no worker
// will get from the stream. Pending jobs are read before the stream, so a job enqueued in
// between is at worst enqueued twice; a worker's first start on a Redis that the API
// already filled therefore re-enqueues nothing. It returns how many it marked.
func (s *Sweeper) markMissing(ctx context.Context) (int, error) {
	pending, err := s.jobs.EnqueuedIDs(ctx)
	if err != nil {
		return 0, err
	}
	missing, err := s.notDeliverable(ctx, pending)
	if err != nil {
		return 0, err
	}
	for ids := range slices.Chunk(missing, sweepBatch) {
		if err := s.jobs.MarkUnenqueued(ctx, ids); err != nil {
			return 0, err
		}
	}
	return len(missing), nil
}

// checkStale looks for pending jobs whose enqueue is stale that no worker will get from the
// stream: the process that marked one died before its XADD, or Redis lost the entry since (a
// failover to a replica that had not got it, an entry deleted, a consumer removed with the
// entry it held). Their marks are cleared, so the next pass enqueues them; a job still on the
// stream (a backlog waiting for free workers) is left alone. A check reads the stale jobs and
// the whole stream, so sweepers take turns: one check per StaleEnqueue/staleChecksPer.
func (s *Sweeper) checkStale(ctx context.Context) error {
	stale, err := s.jobs.StaleEnqueued(ctx, s.cfg.StaleEnqueue, 1)
	if err != nil || len(stale) == 0 {
		return err
	}
	if mine, err := s.queue.TakeStaleCheck(ctx, max(s.cfg.StaleEnqueue/staleChecksPer, time.Millisecond)); err != nil || !mine {
		return err
	}
	if stale, err = s.jobs.StaleEnqueued(ctx, s.cfg.StaleEnqueue, staleCheckLimit); err != nil {
		return err
	}
	missing, err := s.notDeliverable(ctx, stale)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		s.log.Infof("recovery: %d of %d pending jobs enqueued more than %s ago will reach no worker from the stream; re-enqueueing them",
			len(missing), len(stale), s.cfg.StaleEnqueue)
	}
	for ids := range slices.Chunk(missing, sweepBatch) {
		if err := s.jobs.UnmarkStale(ctx, ids, s.cfg.StaleEnqueue); err != nil {
			return err
		}
	}
	return nil
}

// notDeliverable returns those of ids that no worker will get from the stream.
func (s *Sweeper) notDeliverable(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	onStream, err := s.queue.Deliverable(ctx, ids)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		if !onStream[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// enqueueMissing enqueues the due pending jobs not known to be on the stream. Each batch is
// marked enqueued before the XADD; if the mark or the XADD fails, the mark is cleared again.
func (s *Sweeper) enqueueMissing(ctx context.Context) error {
	s.enqueueMu.Lock()
	defer s.enqueueMu.Unlock()
	for {
		ids, err := s.jobs.Unenqueued(ctx, sweepBatch)
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := s.jobs.MarkEnqueued(ctx, ids); err != nil {
			// The mark may have committed with its reply lost; left standing, it would hide
			// these jobs, which are not on the stream, until StaleEnqueue. Cleared, the next
			// pass takes them again (at worst enqueueing twice what another sweeper enqueued).
			s.dispatcher.Unmark(ctx, ids, err)
			return err
		}
		if err := s.dispatcher.Enqueue(ctx, ids...); err != nil {
			return err
		}
		if len(ids) < sweepBatch {
			return nil
		}
	}
}
