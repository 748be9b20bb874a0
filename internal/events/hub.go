package events

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/config"
)

// Notifier is told that a subscription has something to Take (events, a check, its close).
// The hub calls Notify on its delivery goroutine with its lock held, so Notify must return
// at once: it must not block, nor call the hub or the subscription's Close. Recording the
// wake-up and doing the work elsewhere (a goroutine, a buffered channel) is the way.
type Notifier interface {
	// Notify must not block; see Notifier.
	Notify()
}

// NotifyFunc is a Notifier made of a function that does not block.
type NotifyFunc func()

// Notify calls f.
func (f NotifyFunc) Notify() { f() }

// EndedFunc returns those of the jobs that have ended, as the source of truth has it.
type EndedFunc func(ctx context.Context, jobIDs []string) ([]string, error)

// feed is what a hub fans out: the events of jobs, or of tenants.
type feed struct {
	channel string
	// parse reads an announcement: the topic (job id, tenant) and the event.
	parse func(payload string) (string, Event, bool)
	// lastIDs returns the latest event number of each topic in Redis.
	lastIDs func(ctx context.Context, topics []string) ([]int64, error)
}

// Hub fans announced events out to this process's subscribers from a single Redis
// subscription: the events of jobs (NewHub), or those of tenants (NewTenantHub, by tenant or
// all of them: SubscribeAll). Delivery
// never blocks: events are queued per subscriber and the subscriber's Notifier is told, so an idle subscriber costs no goroutine and no buffer. A
// subscriber whose queue is full is closed, and its client resumes with Last-Event-ID.
//
// Announcements can be lost (pub/sub drops what is published while the subscription
// reconnects) and a job can end without one (its done failed to publish). So every
// CheckInterval the hub compares, for all subscribed jobs at once, the latest event number
// in Redis with the latest it delivered, and asks which jobs have ended; the subscribers of a
// job that is behind or ended are asked to check (Delivery.Check). The subscribers to every
// tenant are asked to check when the subscription reconnects.
type Hub struct {
	bus *Bus
	// buffer is how many events a subscriber may have queued before it is closed
	// (Events.ClientBuffer); checkInterval is how often the hub looks for what its
	// subscription may have missed (Events.CheckInterval).
	buffer        int
	checkInterval time.Duration
	// ended is nil on a tenant hub, which has no use for it.
	ended EndedFunc
	feed  feed

	mu     sync.Mutex
	jobs   map[string]*jobSubscribers // by topic: job id, or tenant
	closed bool
	// done is closed by Close (Done).
	done chan struct{}
	// all are the subscriptions to every tenant's events (SubscribeAll), and seq the number
	// of the last event delivered to them.
	all map[*Subscription]struct{}
	seq int64

	pubsub  *redis.PubSub
	stop    chan struct{}
	stopped sync.WaitGroup
}

// jobSubscribers are the subscriptions to one job (or tenant).
type jobSubscribers struct {
	subs map[*Subscription]struct{}
	last int64 // the latest event number delivered, or known to the subscribers by a check
	// announced is the latest number announced: a topic's announcements come in the order
	// of their numbers, so one at or below it starts a new numbering.
	announced int64
}

// Subscription receives the live events of one job (or tenant) until it is closed.
type Subscription struct {
	notify Notifier
	jobID  string
	all    bool // to every tenant's events (SubscribeAll)
	hub    *Hub

	// mu guards what follows; the hub takes it while holding its own lock, so a Take does
	// not wait for a delivery to the job's other subscribers.
	mu     sync.Mutex
	queue  []*Event
	check  bool
	closed bool
}

// Delivery is what a subscription received since the last Take.
type Delivery struct {
	// Events in the order they were announced. Every subscriber of a job gets the same
	// *Event: read it, never change it.
	Events []*Event
	// Check asks the subscriber to compare what it has sent with Redis and the job: an
	// announcement was missed, or the job has ended. To a subscriber to every tenant
	// (SubscribeAll), it says that announcements may have been missed.
	Check bool
	// Closed reports that the subscription has ended: the subscriber fell too far behind,
	// or the hub shut down.
	Closed bool
}

// NewHub returns a hub of job events that is started by Start; ended tells which jobs have ended.
func NewHub(bus *Bus, cfg config.EventsConf, ended EndedFunc) *Hub {
	return &Hub{bus: bus, buffer: cfg.ClientBuffer, checkInterval: cfg.CheckInterval, ended: ended,
		jobs: make(map[string]*jobSubscribers), done: make(chan struct{}), feed: feed{
			channel: bus.channel,
			parse: func(payload string) (string, Event, bool) {
				ev, ok := parseAnnouncement(payload)
				return ev.JobID, ev, ok
			},
			lastIDs: bus.LastIDs,
		}}
}

// NewTenantHub returns a hub of tenant events (Subscribe by tenant) that is started by Start.
func NewTenantHub(bus *Bus, cfg config.EventsConf) *Hub {
	return &Hub{bus: bus, buffer: cfg.ClientBuffer, checkInterval: cfg.CheckInterval, jobs: make(map[string]*jobSubscribers),
		done: make(chan struct{}), all: make(map[*Subscription]struct{}),
		feed: feed{channel: bus.tenantChannel, parse: parseTenantAnnouncement, lastIDs: bus.TenantLastIDs}}
}

// Start subscribes to the announce channel and starts delivering and checking. A Start that
// fails leaves the hub unstarted (Close then only closes its subscriptions).
func (h *Hub) Start(ctx context.Context) error {
	pubsub := h.bus.rdb.Subscribe(ctx, h.feed.channel)
	if _, err := pubsub.Receive(ctx); err != nil {
		_ = pubsub.Close()
		return err
	}
	h.pubsub = pubsub
	h.stop = make(chan struct{})
	h.stopped.Add(2)
	go h.run(h.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(4096)))
	go h.checkEvery(h.checkInterval)
	return nil
}

// run delivers announcements. A subscription message after Start's is go-redis subscribing
// again on a new connection: what was announced in between is lost. The hub's check catches
// the subscribers of one topic up from Redis; those to every tenant, which nothing can catch
// up, are told to check.
func (h *Hub) run(ch <-chan any) {
	defer h.stopped.Done()
	for msg := range ch {
		switch msg := msg.(type) {
		case *redis.Subscription:
			h.missedAll()
		case *redis.Message:
			topic, ev, ok := h.feed.parse(msg.Payload)
			if !ok {
				logx.Errorf("events: malformed announcement %q", msg.Payload)
				continue
			}
			h.deliver(topic, &ev)
		}
	}
}

// deliver queues ev, of topic, for its subscribers, and for those to every tenant a copy
// numbered in the hub's own sequence whose data names the tenant.
func (h *Hub) deliver(topic string, ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.all) > 0 {
		h.seq++
		tagged := &Event{ID: h.seq, Name: ev.Name, Data: withTenant(topic, ev.Data)}
		for s := range h.all {
			h.queueLocked(s, tagged)
		}
	}
	j := h.jobs[topic]
	if j == nil {
		return
	}
	ev.Renumbered = ev.ID <= j.announced
	j.announced = ev.ID
	j.last = max(j.last, ev.ID)
	for s := range j.subs {
		h.queueLocked(s, ev)
	}
}

// queueLocked queues ev for s and tells it, or closes s if its queue is full: too far
// behind, its client reconnects (and resumes from its last id, where it can).
func (h *Hub) queueLocked(s *Subscription, ev *Event) {
	s.mu.Lock()
	full := len(s.queue) == h.buffer
	if !full {
		s.queue = append(s.queue, ev)
	}
	s.mu.Unlock()
	if full {
		h.removeLocked(s)
		return
	}
	s.notify.Notify()
}

// missedAll asks the subscribers to every tenant to check.
func (h *Hub) missedAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.all {
		s.askCheck()
	}
}

func (h *Hub) checkEvery(interval time.Duration) {
	defer h.stopped.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			if err := h.check(ctx); err != nil {
				logx.Errorf("events: check: %v", err)
			}
			cancel()
		}
	}
}

// check asks the subscribers of each job that Redis has newer events of than the hub
// delivered, or older ones only (Redis lost the job's events and numbers them afresh), or
// that has ended, to check.
func (h *Hub) check(ctx context.Context) error {
	h.mu.Lock()
	ids := make([]string, 0, len(h.jobs))
	for id := range h.jobs {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	latest, err := h.feed.lastIDs(ctx, ids)
	if err != nil {
		return err
	}
	var ended []string
	if h.ended != nil {
		if ended, err = h.ended(ctx, ids); err != nil {
			return err
		}
	}
	isEnded := make(map[string]bool, len(ended))
	for _, id := range ended {
		isEnded[id] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, id := range ids {
		j := h.jobs[id]
		if j == nil || (latest[i] == j.last && !isEnded[id]) {
			continue
		}
		j.last = latest[i]
		for s := range j.subs {
			s.askCheck()
		}
	}
	return nil
}

// Subscribe returns a subscription to the live events of jobID (a tenant, on a tenant hub);
// notify is told whenever there is something to Take. After Close of the hub it returns a
// closed subscription.
func (h *Hub) Subscribe(jobID string, notify Notifier) *Subscription {
	s := &Subscription{notify: notify, jobID: jobID, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
		return s
	}
	j := h.jobs[jobID]
	if j == nil {
		j = &jobSubscribers{subs: make(map[*Subscription]struct{})}
		h.jobs[jobID] = j
	}
	j.subs[s] = struct{}{}
	return s
}

// SubscribeAll returns a subscription to the events of every tenant (of a tenant hub), and
// the number its first event follows. The hub numbers these events itself, one by one, and
// adds the tenant to their data (tenantId): tenants' own numbers cannot be merged into one
// order. The numbers are this hub's, so no other process (or later hub) can resume from
// them. notify is as for Subscribe.
func (h *Hub) SubscribeAll(notify Notifier) (*Subscription, int64) {
	s := &Subscription{notify: notify, all: true, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
	} else {
		h.all[s] = struct{}{}
	}
	return s, h.seq
}

// askCheck asks s to check, and tells it.
func (s *Subscription) askCheck() {
	s.mu.Lock()
	s.check = true
	s.mu.Unlock()
	s.notify.Notify()
}

// Take returns what the subscription received since the last call.
func (s *Subscription) Take() Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := Delivery{Events: s.queue, Check: s.check, Closed: s.closed}
	s.queue, s.check = nil, false
	return d
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if closed {
		return
	}
	if s.all {
		delete(h.all, s)
	} else if j := h.jobs[s.jobID]; j != nil {
		delete(j.subs, s)
		if len(j.subs) == 0 {
			delete(h.jobs, s.jobID)
		}
	}
	s.notify.Notify()
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.all)
	for _, j := range h.jobs {
		n += len(j.subs)
	}
	return n
}

// Done is closed when Close begins: the process is stopping.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close closes every subscription, which ends every open stream, and the Redis subscription.
// Later calls only wait, as the first does, for the hub's goroutines to end.
func (h *Hub) Close() {
	h.mu.Lock()
	first := !h.closed
	if first {
		h.closed = true
		close(h.done)
		for _, j := range h.jobs {
			for s := range j.subs {
				h.removeLocked(s)
			}
		}
		for s := range h.all {
			h.removeLocked(s)
		}
	}
	h.mu.Unlock()
	if h.pubsub == nil {
		return
	}
	if first {
		close(h.stop)
		_ = h.pubsub.Close()
	}
	h.stopped.Wait()
}
