package events

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/batcher"
)

// publishTimeout bounds one batch's publishing.
const publishTimeout = 5 * time.Second

// Emitter publishes events in the background, in batches, so that functions reporting
// progress never wait on Redis. Events keep their order.
type Emitter struct {
	bus   *Bus
	queue *batcher.Batcher[queued]
}

// queued is an event, or (synced set) a caller of Sync waiting for what was queued before.
type queued struct {
	ev     Pending
	synced chan struct{}
}

// NewEmitter returns an emitter queueing up to buffer events; Start starts it.
func NewEmitter(bus *Bus, buffer int) *Emitter {
	e := &Emitter{bus: bus}
	e.queue = batcher.New(buffer, 256, e.publish)
	return e
}

// Start starts publishing.
func (e *Emitter) Start() { e.queue.Start() }

// Stop publishes what is queued and returns once done.
func (e *Emitter) Stop() { e.queue.Stop() }

// Emit queues an event, waiting while the queue is full. Status and done events use it:
// they must not be lost.
func (e *Emitter) Emit(ev Pending) { e.queue.Put(queued{ev: ev}) }

// TryEmit queues an event unless the queue is full. Progress and log events use it: when
// Redis cannot keep up, a report is skipped rather than slowing the function (numbers are
// assigned on publishing, so a skipped report leaves no gap).
func (e *Emitter) TryEmit(ev Pending) bool { return e.queue.TryPut(queued{ev: ev}) }

// Sync returns once every event queued before it has been published (or its publishing has
// failed), or when ctx ends, or at once after Stop.
func (e *Emitter) Sync(ctx context.Context) {
	synced := make(chan struct{})
	if !e.queue.PutContext(ctx, queued{synced: synced}) {
		return
	}
	select {
	case <-synced:
	case <-ctx.Done():
	}
}

func (e *Emitter) publish(batch []queued) {
	evs := make([]Pending, 0, len(batch))
	for _, q := range batch {
		if q.synced == nil {
			evs = append(evs, q.ev)
		}
	}
	if len(evs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		if err := e.bus.Publish(ctx, evs...); err != nil {
			// MySQL holds the job's state; a stream that missed these events shows it in the
			// snapshot of its next connection.
			logx.Errorf("events: publish %d events: %v", len(evs), err)
		}
		cancel()
	}
	for _, q := range batch {
		if q.synced != nil {
			close(q.synced)
		}
	}
}
