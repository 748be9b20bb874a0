package worker

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/dispatch"
	"jobs/model"
)

// maxBatch caps how many outcomes one transaction writes.
const maxBatch = 256

// completer writes outcomes to MySQL in batches: while one transaction commits, the next
// outcomes queue up and go together in the next one, so throughput grows with load
// without adding latency when idle. Retried jobs are enqueued after their commit.
type completer struct {
	jobs       model.JobsModel
	dispatcher *dispatch.Dispatcher
	log        logx.Logger
	in         chan model.Outcome
	quit       chan struct{}
	done       chan struct{}
}

func newCompleter(jobs model.JobsModel, d *dispatch.Dispatcher, buffer int, log logx.Logger) *completer {
	return &completer{
		jobs: jobs, dispatcher: d, log: log,
		in:   make(chan model.Outcome, max(buffer, 1)),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
}

func (c *completer) start() { go c.loop() }

// stop writes what is queued and returns once the loop has ended.
func (c *completer) stop() {
	close(c.quit)
	<-c.done
}

// submit queues an outcome; it blocks while the queue is full, which slows the pool down
// to what MySQL absorbs. After stop it drops the outcome: the job's lease expires and the
// recovery sweep retries it.
func (c *completer) submit(o model.Outcome) {
	select {
	case c.in <- o:
	case <-c.quit:
		c.log.Errorf("worker: outcome of job %s dropped during shutdown; it will be retried", o.Id)
	}
}

func (c *completer) loop() {
	defer close(c.done)
	batch := make([]model.Outcome, 0, maxBatch)
	for {
		select {
		case o := <-c.in:
			batch = append(batch[:0], o)
		case <-c.quit:
			c.drain(batch[:0])
			return
		}
		batch = c.fill(batch)
		c.flush(batch)
	}
}

// fill adds whatever is already queued, without waiting.
func (c *completer) fill(batch []model.Outcome) []model.Outcome {
	for len(batch) < maxBatch {
		select {
		case o := <-c.in:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func (c *completer) drain(batch []model.Outcome) {
	for {
		batch = c.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		c.flush(batch)
	}
}

// flush writes a batch, retrying a failing database a few times before giving the jobs
// up to lease expiry.
func (c *completer) flush(batch []model.Outcome) {
	backoff := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := c.write(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if try == 5 {
			c.log.Errorf("worker: write %d outcomes: %v; giving up, their leases will expire and they will be retried", len(batch), err)
			return
		}
		c.log.Errorf("worker: write %d outcomes (try %d): %v", len(batch), try, err)
		time.Sleep(backoff)
		backoff *= 2
	}
}

// write commits outcomes and enqueues the jobs that went back to pending.
func (c *completer) write(ctx context.Context, outcomes []model.Outcome) error {
	won, err := c.jobs.Finish(ctx, outcomes)
	if err != nil {
		return err
	}
	var requeue []string
	for i, o := range outcomes {
		if won[i] && o.Status == model.StatusPending {
			requeue = append(requeue, o.Id)
		}
	}
	if err := c.dispatcher.Enqueue(ctx, requeue...); err != nil {
		c.log.Errorf("worker: enqueue %d retried jobs: %v (the sweep will enqueue them)", len(requeue), err)
	}
	return nil
}
