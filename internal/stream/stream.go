// Package stream keeps one client's position in an event log, a job's (GET
// /api/v1/jobs/{id}/events), a tenant's (GET /api/v1/events), or every tenant's live feed
// (an admin's GET /api/v1/events): the first events (a
// snapshot or a reset, and what the client missed since its Last-Event-ID), then the live
// events the hub delivers, gaps filled from Redis, until the log is done. It knows nothing
// of the transport: events go to a Sink, and the hub's wake-ups to the client's Notifier.
package stream

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"jobs/internal/apperr"
	"jobs/internal/events"
	"jobs/internal/types"
)

// Sink receives a stream's events, in order.
type Sink interface {
	// Send delivers one event; an error ends the stream.
	Send(ev *types.StreamEvent) error
}

// Client is where a stream goes: its Sink, told by the hub when there is more to send
// (Continue is then due).
type Client interface {
	Sink
	events.Notifier
}

// errDone ends a stream after its last event.
var errDone = errors.New("event stream done")

// Stream is one client's position in an event log. It holds no request state, so an idle
// stream keeps little memory. Its methods must not run at the same time.
type Stream struct {
	log  log
	sink Sink
	sub  *events.Subscription
	sent int64 // number of the last event sent

	opened     bool
	resumeFrom int64 // Last-Event-ID, if resuming
	resuming   bool
}

// log is what differs between a job's events and a tenant's.
type log interface {
	// open sends the first events.
	open(ctx context.Context, s *Stream, resumeFrom int64, resuming bool) error
	// kept returns the kept events numbered after after and up to upTo, and gone: "" if they
	// are all of them, else why not (a reset reason).
	kept(ctx context.Context, after, upTo int64) (evs []events.Event, gone string, err error)
	// forward sends ev, which is numbered after the last event sent.
	forward(ctx context.Context, s *Stream, ev events.Event) error
	// check catches up with what the subscription may have missed, at the hub's request.
	check(ctx context.Context, s *Stream) error
}

// newStream returns the stream of l to sub's client. sub is subscribed before anything is
// read, so nothing falls between the first events and the live ones.
func newStream(l log, sub *events.Subscription, resumeFrom int64, resuming bool, c Client) *Stream {
	return &Stream{log: l, sink: c, sub: sub, resumeFrom: resumeFrom, resuming: resuming}
}

// Continue sends whatever is due: the first events on the first call, then the live events
// delivered since the last call (and the kept ones before them that were missed). It
// reports done after the last event; a stream that is done before it sent anything has
// nothing to stream (a client resuming after its job's done).
func (s *Stream) Continue(ctx context.Context) (done bool, err error) {
	err = s.next(ctx)
	if errors.Is(err, errDone) {
		return true, nil
	}
	return false, err
}

func (s *Stream) next(ctx context.Context) error {
	if !s.opened {
		s.opened = true
		return s.log.open(ctx, s, s.resumeFrom, s.resuming)
	}
	d := s.sub.Take()
	for _, ev := range d.Events {
		var err error
		if ev.Renumbered {
			// Redis lost the log's events and numbers them afresh: the numbers before this
			// one may be some the client has had, so it reloads instead of catching up.
			err = s.reset(ev.ID-1, events.ResetLost)
		} else {
			err = s.catchUp(ctx, ev.ID-1)
		}
		if err != nil {
			return err
		}
		if err := s.forward(ctx, *ev); err != nil {
			return err
		}
	}
	switch {
	case d.Closed:
		return errDone // fell too far behind, or shutdown: the client resumes from its last id
	case d.Check:
		return s.log.check(ctx, s)
	}
	return nil
}

// Close ends the subscription.
func (s *Stream) Close() { s.sub.Close() }

func (s *Stream) send(id int64, name string, data any) error {
	if err := s.sink.Send(&types.StreamEvent{Id: id, Event: name, Data: data}); err != nil {
		return err
	}
	s.sent = max(s.sent, id)
	return nil
}

// forward sends ev unless it was sent already.
func (s *Stream) forward(ctx context.Context, ev events.Event) error {
	if ev.ID <= s.sent {
		return nil
	}
	return s.log.forward(ctx, s, ev)
}

// catchUp sends the kept events numbered after the last one sent, up to upTo, or a reset if
// some of them are no longer kept (a log keeps only its latest events: Events.MaxLen of a
// job's, Events.TenantMaxLen of a tenant's).
func (s *Stream) catchUp(ctx context.Context, upTo int64) error {
	if upTo <= s.sent {
		return nil
	}
	missed, gone, err := s.log.kept(ctx, s.sent, upTo)
	if err != nil {
		return err
	}
	return s.replay(ctx, missed, gone, upTo)
}

// replay sends those of missed, the kept events up to upTo, numbered after the last one
// sent; unless they are not all the events up to upTo (gone says why): then the client gets
// a reset numbered upTo instead.
func (s *Stream) replay(ctx context.Context, missed []events.Event, gone string, upTo int64) error {
	if gone != "" {
		return s.reset(upTo, gone)
	}
	for _, ev := range missed {
		if err := s.forward(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// reset tells the client to reload what it shows, numbered at: what follows comes after it,
// even if at is below the last number sent (Redis lost the latest events).
func (s *Stream) reset(at int64, reason string) error {
	if err := s.send(at, events.Reset, events.ResetData{Reason: reason}); err != nil {
		return err
	}
	s.sent = at
	return nil
}

// ParseLastEventID reads a Last-Event-ID header: the id to resume after, and whether the
// client is resuming at all (an empty header is a first connection).
func ParseLastEventID(s string) (int64, bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, apperr.Invalid("Last-Event-ID must be an event id (a non-negative integer), not %q", s)
	}
	return n, true, nil
}
