// Package dispatch puts pending jobs on the Redis stream and, when Redis refuses, leaves a
// durable mark in MySQL so the recovery sweep enqueues them later: a job is never lost
// between its commit and its enqueue.
package dispatch

import (
	"context"

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
