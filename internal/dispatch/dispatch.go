// Package dispatch puts pending jobs on the Redis stream and, when Redis refuses, leaves a
// durable mark in MySQL so the recovery sweep enqueues them later: a job is never lost
// between its commit and its enqueue.
package dispatch

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
)

// Stream is where jobs are put: *queue.Queue, or a test's wrapper of it that refuses.
type Stream interface {
	Add(ctx context.Context, jobIDs ...string) error
}

// Marks records in MySQL that jobs may not be on the stream: model.JobsModel.
type Marks interface {
	MarkUnenqueued(ctx context.Context, ids []string) error
}

// Dispatcher enqueues jobs that MySQL already records as pending and enqueued.
type Dispatcher struct {
	jobs  Marks
	queue Stream
}

// New returns a dispatcher.
func New(jobs Marks, q Stream) *Dispatcher {
	return &Dispatcher{jobs: jobs, queue: q}
}

// Enqueue puts ids on the stream. Callers commit the jobs as pending with enqueued_at set
// first; if the XADD fails, Enqueue clears enqueued_at (Unmark) so the sweep retries, and
// returns the Redis error for logging only: the jobs are safe in MySQL either way.
func (d *Dispatcher) Enqueue(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := d.queue.Add(ctx, ids...)
	if err == nil {
		return nil
	}
	d.Unmark(ctx, ids, err)
	return err
}

// unmarkTimeout bounds Unmark: a clear that waits longer (MySQL stalled, a row locked for
// innodb_lock_wait_timeout) would hold up a start's answer or a worker's stop.
const unmarkTimeout = 5 * time.Second

// Unmark clears the enqueue mark of ids after cause (a failed XADD, or a mark that failed
// but may have committed), so the sweep's next pass enqueues them, not StaleEnqueue later.
// The caller's context may be gone (a request that hung up, a stop that cut the mark short):
// the clear outlives it, within unmarkTimeout. A clear that fails is logged; the stale
// sweep finds the jobs then.
func (d *Dispatcher) Unmark(ctx context.Context, ids []string, cause error) {
	clearCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unmarkTimeout)
	defer cancel()
	if err := d.jobs.MarkUnenqueued(clearCtx, ids); err != nil {
		logx.WithContext(ctx).Errorf("clear the enqueue mark of %d jobs after %v: %v (the stale sweep will find them)",
			len(ids), cause, err)
	}
}
