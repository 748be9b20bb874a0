// Package batcher runs a goroutine that hands queued items to a flush function in batches:
// one item when idle, everything already waiting (up to a cap) under load. Throughput
// grows with load without adding latency when idle.
package batcher

import "context"

// Batcher queues items and flushes them in order from one goroutine.
type Batcher[T any] struct {
	in    chan T
	quit  chan struct{}
	done  chan struct{}
	max   int
	flush func([]T)
}

// New returns a batcher queueing up to buffer items and flushing at most max at a time.
func New[T any](buffer, max int, flush func([]T)) *Batcher[T] {
	return &Batcher[T]{in: make(chan T, buffer), quit: make(chan struct{}), done: make(chan struct{}),
		max: max, flush: flush}
}

// Start starts the flushing goroutine.
func (b *Batcher[T]) Start() { go b.run() }

// Put queues v, waiting while the queue is full. It returns false, dropping v, once Stop
// has been called.
func (b *Batcher[T]) Put(v T) bool { return b.PutContext(context.Background(), v) }

// PutContext is Put that also gives up, dropping v, when ctx ends.
func (b *Batcher[T]) PutContext(ctx context.Context, v T) bool {
	select {
	case b.in <- v:
		return true
	case <-b.quit:
		return false
	case <-ctx.Done():
		return false
	}
}

// TryPut queues v unless the queue is full.
func (b *Batcher[T]) TryPut(v T) bool {
	select {
	case b.in <- v:
		return true
	default:
		return false
	}
}

// Stop flushes what is queued and returns once the goroutine has ended.
func (b *Batcher[T]) Stop() {
	close(b.quit)
	<-b.done
}

func (b *Batcher[T]) run() {
	defer close(b.done)
	batch := make([]T, 0, b.max)
	for {
		select {
		case v := <-b.in:
			batch = b.fill(append(batch[:0], v))
			b.flush(batch)
		case <-b.quit:
			for batch = b.fill(batch[:0]); len(batch) > 0; batch = b.fill(batch[:0]) {
				b.flush(batch)
			}
			return
		}
	}
}

// fill adds whatever is already queued, without waiting.
func (b *Batcher[T]) fill(batch []T) []T {
	for len(batch) < b.max {
		select {
		case v := <-b.in:
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// MaxStatementBytes bounds what the rows of one batched statement carry (params, results,
// output lines). MySQL refuses a statement over max_allowed_packet (16 MiB in MariaDB's
// default) whole; escaped, 4 MiB stays under it.
const MaxStatementBytes = 4 << 20

// Split cuts items, in order, into parts of at most maxItems whose sizes add up to at most
// maxBytes; an item over maxBytes is a part of its own.
func Split[T any](items []T, maxItems, maxBytes int, size func(T) int) [][]T {
	var parts [][]T
	start, bytes := 0, 0
	for i, item := range items {
		n := size(item)
		if i > start && (i-start == maxItems || bytes+n > maxBytes) {
			parts = append(parts, items[start:i])
			start, bytes = i, 0
		}
		bytes += n
	}
	if start < len(items) {
		parts = append(parts, items[start:])
	}
	return parts
}
