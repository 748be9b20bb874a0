package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
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
	// patience is how long an outcome's write is retried: the job's lease (Worker.Lease).
	patience time.Duration
	// drain ends the retries once stop has waited stopPatience for a failing MySQL.
	drain    context.Context
	stopWait context.CancelFunc
}

// finished is an outcome to write, with whose job it is (for the tenant's events) and when
// it was handed over (its write is retried until the job's lease would have run out).
type finished struct {
	model.Outcome
	owner events.Owner
	at    time.Time
}

const (
	// stopPatience bounds how long stop waits for a failing MySQL to take what is queued,
	// so shutdown stays within go-zero's force-quit (ShutdownGrace + 15 s) with the hand-back.
	stopPatience = 5 * time.Second
	// handBackPatience bounds the retries of a hand-back at shutdown: one that fails costs
	// only a later start (the lease expires and the sweep retries the job).
	handBackPatience = 3 * time.Second
)

func newCompleter(jobs Store, d Enqueuer, e *events.Emitter, buffer int, patience time.Duration, log logx.Logger) *completer {
	c := &completer{jobs: jobs, dispatcher: d, emitter: e, log: log, patience: patience}
	c.drain, c.stopWait = context.WithCancel(context.Background())
	c.queue = batcher.New(max(buffer, 1), 256, c.flush)
	return c
}

func (c *completer) start() { c.queue.Start() }

// stop writes what is queued and returns once done, or once a failing MySQL has been
// retried for stopPatience.
func (c *completer) stop() {
	giveUp := time.AfterFunc(stopPatience, c.stopWait)
	defer giveUp.Stop()
	defer c.stopWait()
	c.queue.Stop()
}

// submit queues an outcome; it blocks while the queue is full, which slows the pool down
// to what MySQL absorbs. After stop it drops the outcome: the job's lease expires and the
// recovery sweep retries it.
func (c *completer) submit(o model.Outcome, owner events.Owner) {
	if !c.queue.Put(finished{Outcome: o, owner: owner, at: time.Now()}) {
		c.log.Errorf("worker: outcome of job %s dropped during shutdown; it will be retried", o.Id)
	}
}

// flush writes a batch, retrying a failing database until the leases of its jobs would have
// run out: within a lease no one else may take the job, so an outcome written late still
// counts, and a job that completed is not run again because MySQL was away for a few
// seconds. After that the lease reaper owns the jobs (a later write still wins if the reaper
// has not run: the write is a compare-and-set on the attempt).
func (c *completer) flush(batch []finished) {
	oldest := batch[0].at
	for _, f := range batch[1:] {
		if f.at.Before(oldest) {
			oldest = f.at
		}
	}
	ctx, cancel := context.WithDeadline(c.drain, oldest.Add(c.patience))
	defer cancel()
	for _, part := range batcher.Split(batch, len(batch), batcher.MaxStatementBytes, outcomeBytes) {
		if err := c.writeRetrying(ctx, part); err != nil {
			c.log.Errorf("worker: write %d outcomes: %v; giving up, their leases will expire and they will be retried", len(part), err)
		}
	}
}

// outcomeBytes is what an outcome carries into the statement (batcher.MaxStatementBytes):
// the 256 outcomes of a full batch, with results of up to 1 MiB each, were far over MariaDB's
// max_allowed_packet; the statement was refused whole, and every job of it ran again once its
// lease expired.
func outcomeBytes(f finished) int {
	return len(f.Result.String) + len(f.Error) + len(f.Progress.Message) + len(f.Progress.LogTail.String)
}

// writeRetrying writes a batch, trying at least once and again until ctx ends: a deadlock
// victim, a dropped connection or MySQL away for a while. Every try carries the same token,
// so an outcome that did commit in a try whose reply was lost is reported won by the next
// (which does not apply it again: compare-and-set on the attempt) and is announced once.
func (c *completer) writeRetrying(ctx context.Context, batch []finished) error {
	token := uuid.NewString()
	return retryUntil(ctx, c.log, fmt.Sprintf("write %d outcomes", len(batch)), func() error {
		tryCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		return c.write(tryCtx, token, batch)
	})
}

// write commits outcomes, announces the ones that took effect, and enqueues the jobs handed
// back to pending. Retries (OutcomeRetry) are not enqueued here: they wait, unenqueued,
// until their run_at, when the scheduler's due pass (internal/recovery) enqueues them.
func (c *completer) write(ctx context.Context, token string, batch []finished) error {
	outcomes := make([]model.Outcome, len(batch))
	for i, f := range batch {
		outcomes[i] = f.Outcome
	}
	won, err := c.jobs.Finish(ctx, token, outcomes)
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
		for _, ev := range events.StatusChange(o.Id, batch[i].owner, status, o.AttemptAfter(), o.Error) {
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
