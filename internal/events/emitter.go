package events

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/batcher"
)

// Emitter publishes events in the background, in batches, so that functions reporting
// progress never wait on Redis. Events keep their order.
type Emitter struct {
	bus   *Bus
	queue *batcher.Batcher[Pending]
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
func (e *Emitter) Emit(ev Pending) { e.queue.Put(ev) }

// TryEmit queues an event unless the queue is full. Progress and log events use it: when
// Redis cannot keep up, a report is skipped rather than slowing the function (numbers are
// assigned on publishing, so a skipped report leaves no gap).
func (e *Emitter) TryEmit(ev Pending) bool { return e.queue.TryPut(ev) }

func (e *Emitter) publish(batch []Pending) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.bus.Publish(ctx, batch...); err != nil {
		// MySQL holds the job's state; a stream that missed these events shows it in the
		// snapshot of its next connection.
		logx.Errorf("events: publish %d events: %v", len(batch), err)
	}
}
