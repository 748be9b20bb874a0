package events

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/auth"
	"jobs/internal/events"
	"jobs/internal/sse"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type StreamEventsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The caller's tenant's job changes (status, progress) as Server-Sent Events
func NewStreamEventsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *StreamEventsLogic {
	return &StreamEventsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// StreamEvents starts the caller's tenant's event stream: on a resume, the kept events after
// Last-Event-ID (or a reset, if they are not all kept); on a first connection, a reset
// numbered with the latest event, so the client has a position to resume from. Live events
// follow until the client leaves. It subscribes before reading the latest number, so
// nothing falls between the two; numbers already sent are skipped, and a gap in the live
// numbers is filled from Redis.
func (l *StreamEventsLogic) StreamEvents(req *types.StreamEventsReq, out *sse.Stream) (sse.Source, error) {
	tenant, err := auth.Tenant(l.ctx)
	if err != nil {
		return nil, err
	}
	resumeFrom, resuming, err := sse.ParseLastEventID(req.LastEventId)
	if err != nil {
		return nil, err
	}
	s := &tenantStream{bus: l.svcCtx.Events, tenant: tenant}
	s.sub = l.svcCtx.TenantHub.Subscribe(tenant, out.Wake)
	if err := s.open(l.ctx, out, resumeFrom, resuming); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// tenantStream is one client's position in its tenant's events.
type tenantStream struct {
	bus    *events.Bus
	tenant string
	sub    *events.Subscription
	sent   int64 // number of the last event sent
}

func (s *tenantStream) open(ctx context.Context, out *sse.Stream, resumeFrom int64, resuming bool) error {
	latest, err := s.bus.TenantLastID(ctx, s.tenant)
	if err != nil {
		return err
	}
	switch {
	case !resuming:
		return s.reset(out, latest, events.ResetNew)
	case resumeFrom > latest:
		// Redis no longer has the client's position: it lost the tenant's events.
		return s.reset(out, latest, events.ResetLost)
	}
	s.sent = resumeFrom
	return s.catchUp(ctx, out, latest)
}

// Continue forwards the live events delivered since the last call, and catches up with
// Redis when the hub asks it to.
func (s *tenantStream) Continue(ctx context.Context, out *sse.Stream) error {
	d := s.sub.Take()
	for _, ev := range d.Events {
		if ev.ID <= s.sent {
			continue
		}
		if err := s.catchUp(ctx, out, ev.ID-1); err != nil {
			return err
		}
		if err := s.send(out, ev.ID, ev.Name, ev.Data); err != nil {
			return err
		}
	}
	switch {
	case d.Closed:
		return sse.ErrDone // fell too far behind, or shutdown: the client resumes from its last id
	case d.Check:
		latest, err := s.bus.TenantLastID(ctx, s.tenant)
		if err != nil {
			return err
		}
		return s.catchUp(ctx, out, latest)
	}
	return nil
}

// Close ends the subscription.
func (s *tenantStream) Close() { s.sub.Close() }

func (s *tenantStream) send(out *sse.Stream, id int64, name string, data any) error {
	if err := out.Send(&types.StreamEvent{Id: id, Event: name, Data: data}); err != nil {
		return err
	}
	s.sent = max(s.sent, id)
	return nil
}

// reset tells the client to reload what it shows, numbered at: what follows comes after it.
func (s *tenantStream) reset(out *sse.Stream, at int64, reason string) error {
	return s.send(out, at, events.Reset, events.ResetData{Reason: reason})
}

// catchUp sends the kept events numbered after the last one sent, up to upTo, or a reset if
// some of them are no longer kept.
func (s *tenantStream) catchUp(ctx context.Context, out *sse.Stream, upTo int64) error {
	if upTo <= s.sent {
		return nil
	}
	missed, complete, err := s.bus.TenantRange(ctx, s.tenant, s.sent, upTo)
	if err != nil {
		return err
	}
	if !complete {
		return s.reset(out, upTo, events.ResetExpired)
	}
	for _, ev := range missed {
		if ev.ID > s.sent {
			if err := s.send(out, ev.ID, ev.Name, ev.Data); err != nil {
				return err
			}
		}
	}
	return nil
}
