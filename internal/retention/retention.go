// Package retention deletes finished jobs once their status's retention has passed, with
// their event logs in Redis: in small batches, by one process at a time across the
// deployment (a MySQL named lock), keeping jobs whose callback delivery is still pending.
package retention

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/events"
	"jobs/model"
)

// LockName names the MySQL lock that lets one pruner of a database run at a time.
const LockName = "retention"

// Config says how long finished jobs are kept, by status (0 keeps them forever), and how
// pruning paces itself.
type Config struct {
	Completed, Failed, Cancelled time.Duration
	// Interval is the time between pruning passes.
	Interval time.Duration
	// BatchSize bounds the rows one DELETE removes (and so the time it holds their locks).
	BatchSize int
	// Pause is the time between two batches of one pass: room for the writes of starts,
	// claims and finishes.
	Pause time.Duration
}

// Pruner runs pruning passes every Interval. Any number may run; the lock lets one prune.
type Pruner struct {
	cfg    Config
	jobs   model.JobsModel
	lock   *model.NamedLock
	events *events.Bus
	log    logx.Logger
	stop   context.CancelFunc
	done   chan struct{}
}

// NewPruner returns a pruner; Start starts it.
func NewPruner(cfg Config, jobs model.JobsModel, lock *model.NamedLock, bus *events.Bus) *Pruner {
	return &Pruner{cfg: cfg, jobs: jobs, lock: lock, events: bus, log: logx.WithContext(context.Background())}
}

// Start prunes at once and then every Interval until Stop.
func (p *Pruner) Start() {
	ctx, stop := context.WithCancel(context.Background())
	p.stop, p.done = stop, make(chan struct{})
	go func() {
		defer close(p.done)
		ticker := time.NewTicker(p.cfg.Interval)
		defer ticker.Stop()
		for {
			if _, err := p.Prune(ctx); err != nil && ctx.Err() == nil {
				p.log.Errorf("retention: prune: %v", err)
			}
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// Stop ends the current batch's pass and waits for it.
func (p *Pruner) Stop() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
}

// Prune runs one pass if no other process is pruning, and returns how many jobs it deleted.
// The lock is held for the whole pass: its holder's connection ends with its process, so a
// pruner that is killed frees it for the next pass of another.
func (p *Pruner) Prune(ctx context.Context) (int, error) {
	release, ok, err := p.lock.TryLock(ctx)
	if err != nil || !ok {
		return 0, err
	}
	defer release()
	deleted := 0
	for _, r := range []struct {
		status model.Status
		age    time.Duration
	}{{model.StatusCompleted, p.cfg.Completed}, {model.StatusFailed, p.cfg.Failed}, {model.StatusCancelled, p.cfg.Cancelled}} {
		if r.age <= 0 {
			continue
		}
		for {
			ids, err := p.jobs.PruneFinished(ctx, r.status, r.age, p.cfg.BatchSize)
			if err != nil {
				return deleted, err
			}
			deleted += len(ids)
			// Event logs expire on their own (Events.RetainDone); deleting them now only
			// frees the memory sooner, so a failure is logged, not retried.
			if err := p.events.Forget(ctx, ids); err != nil && ctx.Err() == nil {
				p.log.Errorf("retention: %d jobs deleted; deleting their event logs failed (they expire on their own): %v", len(ids), err)
			}
			if len(ids) < p.cfg.BatchSize {
				break
			}
			select {
			case <-time.After(p.cfg.Pause):
			case <-ctx.Done():
				return deleted, ctx.Err()
			}
		}
	}
	return deleted, nil
}
