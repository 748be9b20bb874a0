// Package dispatch puts pending jobs on the Redis stream and, when Redis refuses, leaves a
// durable mark in MySQL so the recovery sweep enqueues them later: a job is never lost
// between its commit and its enqueue.
package dispatch

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/queue"
	"jobs/model"
)

// Dispatcher enqueues jobs that MySQL already records as pending and enqueued.
type Dispatcher struct {
	jobs  model.JobsModel
	queue *queue.Queue
}

// New returns a dispatcher.
func New(jobs model.JobsModel, q *queue.Queue) *Dispatcher {
	return &Dispatcher{jobs: jobs, queue: q}
}

// Enqueue puts ids on the stream. Callers commit the jobs as pending with enqueued_at set
// first; if the XADD fails, Enqueue clears enqueued_at so the sweep retries, and returns
// the Redis error for logging only: the jobs are safe in MySQL either way.
func (d *Dispatcher) Enqueue(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := d.queue.Add(ctx, ids...)
	if err == nil {
		return nil
	}
	// The request may be gone; the mark must still be written.
	if markErr := d.jobs.MarkUnenqueued(context.WithoutCancel(ctx), ids); markErr != nil {
		logx.WithContext(ctx).Errorf("enqueue %d jobs: %v; marking them for the sweep: %v (the stale sweep will find them)",
			len(ids), err, markErr)
	}
	return err
}
