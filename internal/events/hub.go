package events

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// Hub fans announced events out to this process's subscribers from a single Redis
// subscription. Delivery never blocks: events are queued per subscriber and the subscriber
// is notified by a call, so an idle subscriber costs no goroutine and no buffer. A
// subscriber whose queue is full is closed, and its client resumes with Last-Event-ID.
type Hub struct {
	bus    *Bus
	buffer int

	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool

	pubsub *redis.PubSub
	done   chan struct{}
}

// Subscription receives the live events of one job until it is closed.
type Subscription struct {
	notify func()
	jobID  string
	hub    *Hub
	// guarded by hub.mu
	queue  []*Event
	closed bool
}

// NewHub returns a hub giving each subscriber a buffer of buffer events.
func NewHub(bus *Bus, buffer int) *Hub {
	return &Hub{bus: bus, buffer: buffer, subs: make(map[string]map[*Subscription]struct{})}
}

// Start subscribes to the announce channel and starts delivering.
func (h *Hub) Start(ctx context.Context) error {
	h.pubsub = h.bus.rdb.Subscribe(ctx, h.bus.channel)
	if _, err := h.pubsub.Receive(ctx); err != nil {
		_ = h.pubsub.Close()
		return err
	}
	h.done = make(chan struct{})
	go h.run(h.pubsub.Channel(redis.WithChannelSize(4096)))
	return nil
}

func (h *Hub) run(ch <-chan *redis.Message) {
	defer close(h.done)
	for msg := range ch {
		ev, ok := parseAnnouncement(msg.Payload)
		if !ok {
			logx.Errorf("events: malformed announcement %q", msg.Payload)
			continue
		}
		h.deliver(&ev)
	}
}

func (h *Hub) deliver(ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.JobID] {
		if len(s.queue) == h.buffer {
			h.removeLocked(s) // too far behind: the client resumes from its last id
			continue
		}
		s.queue = append(s.queue, ev)
		s.notify()
	}
}

// Subscribe returns a subscription to jobID's live events. notify is called after each
// event is queued and once the subscription is closed, with the hub locked: it must not
// block or call the hub. After Close of the hub it returns a closed subscription.
func (h *Hub) Subscribe(jobID string, notify func()) *Subscription {
	s := &Subscription{notify: notify, jobID: jobID, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
		return s
	}
	if h.subs[jobID] == nil {
		h.subs[jobID] = make(map[*Subscription]struct{})
	}
	h.subs[jobID][s] = struct{}{}
	return s
}

// Take returns the events queued since the last call, in the order they were announced,
// and whether the subscription is still open: it is closed when the subscriber fell too
// far behind or the hub shut down. Every subscriber of a job gets the same *Event: read
// it, never change it.
func (s *Subscription) Take() ([]*Event, bool) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	evs := s.queue
	s.queue = nil
	return evs, !s.closed
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	if set := h.subs[s.jobID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs, s.jobID)
		}
	}
	s.notify()
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

// Close closes every subscription, which ends every open stream, and the Redis subscription.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for _, set := range h.subs {
		for s := range set {
			h.removeLocked(s)
		}
	}
	h.mu.Unlock()
	if h.pubsub != nil {
		_ = h.pubsub.Close()
		<-h.done
	}
}
