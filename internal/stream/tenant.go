package stream

import (
	"context"

	"jobs/internal/events"
)

// Tenant returns the stream of tenant's events to c, resuming after lastEventID (a
// Last-Event-ID header; empty for a first connection). Its first Continue sends, on a
// resume, the kept events after Last-Event-ID (or a reset, if they are not all kept); on a
// first connection, a reset numbered with the latest event, so the client has a position to
// resume from. Live events follow until the client leaves.
func Tenant(bus *events.Bus, hub *events.Hub, tenant, lastEventID string, c Client) (*Stream, error) {
	resumeFrom, resuming, err := ParseLastEventID(lastEventID)
	if err != nil {
		return nil, err
	}
	return newStream(&tenantLog{bus: bus, tenant: tenant}, hub.Subscribe(tenant, c), resumeFrom, resuming, c), nil
}

type tenantLog struct {
	bus    *events.Bus
	tenant string
}

func (l *tenantLog) open(ctx context.Context, s *Stream, resumeFrom int64, resuming bool) error {
	latest, err := l.bus.TenantLastID(ctx, l.tenant)
	if err != nil {
		return err
	}
	switch {
	case !resuming:
		return s.reset(latest, events.ResetNew)
	case resumeFrom > latest:
		// Redis no longer has the client's position: it lost the tenant's events.
		return s.reset(latest, events.ResetLost)
	}
	s.sent = resumeFrom
	return s.catchUp(ctx, latest)
}

func (l *tenantLog) kept(ctx context.Context, after, upTo int64) ([]events.Event, string, error) {
	return l.bus.TenantRange(ctx, l.tenant, after, upTo)
}

func (l *tenantLog) forward(_ context.Context, s *Stream, ev events.Event) error {
	return s.send(ev.ID, ev.Name, ev.Data)
}

// check catches up with events the subscription missed. A latest number below the last one
// sent means Redis lost the tenant's latest events (it failed over to a replica behind it)
// and numbers new ones with numbers the client has, which the stream would drop as sent: the
// client gets a reset at Redis's number and the stream carries on from there.
func (l *tenantLog) check(ctx context.Context, s *Stream) error {
	latest, err := l.bus.TenantLastID(ctx, l.tenant)
	if err != nil {
		return err
	}
	if latest < s.sent {
		return s.reset(latest, events.ResetLost)
	}
	return s.catchUp(ctx, latest)
}

// AllTenants returns the live feed of every tenant's events to c (Hub.SubscribeAll): each
// event's data names its tenant (tenantId), and ids are the hub's own count. Nothing is
// kept to resume from, so its first Continue sends a reset: new on a first connection,
// expired on a reconnect with Last-Event-ID (which must still be a number). A reset (lost)
// follows whenever the hub may have missed announcements; the client reloads either way.
func AllTenants(hub *events.Hub, lastEventID string, c Client) (*Stream, error) {
	resumeFrom, resuming, err := ParseLastEventID(lastEventID)
	if err != nil {
		return nil, err
	}
	sub, start := hub.SubscribeAll(c)
	return newStream(&allTenantsLog{start: start}, sub, resumeFrom, resuming, c), nil
}

// allTenantsLog is the hub's numbering of every tenant's events since the subscription
// started (at start).
type allTenantsLog struct {
	start int64
}

func (l *allTenantsLog) open(_ context.Context, s *Stream, _ int64, resuming bool) error {
	if resuming {
		return s.reset(l.start, events.ResetExpired)
	}
	return s.reset(l.start, events.ResetNew)
}

// kept has nothing: the hub numbers this feed's events one by one and delivers each (or
// closes the subscription), so no gap is ever asked for; were one, the client reloads.
func (l *allTenantsLog) kept(context.Context, int64, int64) ([]events.Event, string, error) {
	return nil, events.ResetLost, nil
}

func (l *allTenantsLog) forward(_ context.Context, s *Stream, ev events.Event) error {
	return s.send(ev.ID, ev.Name, ev.Data)
}

// check is the hub's word that announcements may have been missed (its Redis subscription
// was renewed): the client reloads, and the feed carries on from the last event sent.
func (l *allTenantsLog) check(_ context.Context, s *Stream) error {
	return s.reset(s.sent, events.ResetLost)
}
