package events

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// Hub fans announced events out to this process's subscribers from a single Redis
// subscription. Delivery never blocks: a subscriber whose buffer is full is closed, and its
// client resumes with Last-Event-ID.
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
	// C delivers events in the order they were announced; it is closed when the
	// subscriber falls too far behind or the hub shuts down. Every subscriber of a job gets
	// the same *Event: read it, never change it.
	C     <-chan *Event
	c     chan *Event
	jobID string
	hub   *Hub
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
		select {
		case s.c <- ev:
		default:
			h.removeLocked(s) // too far behind: the client resumes from its last id
		}
	}
}

// Subscribe returns a subscription to jobID's live events. After Close of the hub it
// returns an already closed subscription.
func (h *Hub) Subscribe(jobID string) *Subscription {
	s := &Subscription{c: make(chan *Event, h.buffer), jobID: jobID, hub: h}
	s.C = s.c
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.c)
		return s
	}
	if h.subs[jobID] == nil {
		h.subs[jobID] = make(map[*Subscription]struct{})
	}
	h.subs[jobID][s] = struct{}{}
	return s
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	set, ok := h.subs[s.jobID]
	if !ok {
		return
	}
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.jobID)
	}
	close(s.c)
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
