package worker

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/batcher"
	"jobs/internal/events"
	"jobs/internal/metrics"
	"jobs/model"
)

// completer writes outcomes to MySQL in batches (one transaction for everything queued
// while the previous one committed), then announces them and enqueues retried jobs.
type completer struct {
	jobs       Store
	dispatcher Enqueuer
	emitter    *events.Emitter
	log        logx.Logger
	queue      *batcher.Batcher[finished]
}

// finished is an outcome to write, with whose job it is (for the tenant's events).
type finished struct {
	model.Outcome
	owner events.Owner
}

func newCompleter(jobs Store, d Enqueuer, e *events.Emitter, buffer int, log logx.Logger) *completer {
	c := &completer{jobs: jobs, dispatcher: d, emitter: e, log: log}
	c.queue = batcher.New(max(buffer, 1), 256, c.flush)
	return c
}

func (c *completer) start() { c.queue.Start() }

// stop writes what is queued and returns once done.
func (c *completer) stop() { c.queue.Stop() }

// submit queues an outcome; it blocks while the queue is full, which slows the pool down
// to what MySQL absorbs. After stop it drops the outcome: the job's lease expires and the
// recovery sweep retries it.
func (c *completer) submit(o model.Outcome, owner events.Owner) {
	if !c.queue.Put(finished{Outcome: o, owner: owner}) {
		c.log.Errorf("worker: outcome of job %s dropped during shutdown; it will be retried", o.Id)
	}
}

// flush writes a batch, retrying a failing database a few times before giving the jobs
// up to lease expiry.
func (c *completer) flush(batch []finished) {
	if err := c.writeRetrying(batch); err != nil {
		c.log.Errorf("worker: write %d outcomes: %v; giving up, their leases will expire and they will be retried", len(batch), err)
	}
}

// writeRetrying writes a batch, trying up to five times over about 1.5 s: a deadlock victim
// or a dropped connection is retried, and an outcome that did commit loses its retry.
func (c *completer) writeRetrying(batch []finished) error {
	backoff := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := c.write(ctx, batch)
		cancel()
		if err == nil || try == 5 {
			return err
		}
		c.log.Errorf("worker: write %d outcomes (try %d): %v", len(batch), try, err)
		time.Sleep(backoff)
		backoff *= 2
	}
}

// write commits outcomes, announces the ones that took effect, and enqueues the jobs handed
// back to pending. Retries (OutcomeRetry) are not enqueued here: they wait, unenqueued,
// until their run_at, when the scheduler's due pass (internal/recovery) enqueues them.
func (c *completer) write(ctx context.Context, batch []finished) error {
	outcomes := make([]model.Outcome, len(batch))
	for i, f := range batch {
		outcomes[i] = f.Outcome
	}
	won, err := c.jobs.Finish(ctx, outcomes)
	if err != nil {
		return err
	}
	var requeue []string
	for i, o := range outcomes {
		if !won[i] {
			continue
		}
		status := o.Kind.Status()
		if status.Terminal() {
			metrics.JobFinished(batch[i].owner.FunctionID, string(status))
		}
		for _, ev := range events.StatusChange(o.Id, batch[i].owner, status, o.Attempt, o.Error) {
			c.emitter.Emit(ev)
		}
		if o.Kind == model.OutcomeHandBack {
			requeue = append(requeue, o.Id)
		}
	}
	if err := c.dispatcher.Enqueue(ctx, requeue...); err != nil {
		c.log.Errorf("worker: enqueue %d retried jobs: %v (the sweep will enqueue them)", len(requeue), err)
	}
	return nil
}
