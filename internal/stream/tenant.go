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
	return newStream(&tenantLog{bus: bus, tenant: tenant}, hub, tenant, resumeFrom, resuming, c), nil
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
