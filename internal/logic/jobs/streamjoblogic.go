package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/events"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

// streamCheck is how often a stream checks Redis and MySQL for what its subscription may
// have missed (a dropped pub/sub message, a done that was never announced).
const streamCheck = 5 * time.Second

type StreamJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Live progress as Server-Sent Events
func NewStreamJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *StreamJobLogic {
	return &StreamJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// errStreamDone ends a stream after its done event.
var errStreamDone = errors.New("stream done")

// StreamJob sends a snapshot, then (on reconnect) the events after Last-Event-ID that the
// client missed, then live events until the job is done. It subscribes before reading the
// job and the latest event number, so nothing falls between replay and live; numbers
// already sent are skipped, and a gap in the live numbers is filled from Redis.
func (l *StreamJobLogic) StreamJob(req *types.StreamJobReq, send func(*types.StreamEvent) error) error {
	if _, err := FindJob(l.ctx, l.svcCtx.Jobs, req.JobId); err != nil {
		return err
	}
	resumeFrom, resuming, err := parseLastEventID(req.LastEventId)
	if err != nil {
		return err
	}
	sub := l.svcCtx.Hub.Subscribe(req.JobId)
	defer sub.Close()
	latest, err := l.svcCtx.Events.LastID(l.ctx, req.JobId)
	if err != nil {
		return err
	}
	job, err := l.svcCtx.Jobs.FindOne(l.ctx, req.JobId)
	if err != nil {
		return err
	}

	// A resume point past the latest number means Redis lost the job's events: start afresh.
	if !resuming || resumeFrom > latest {
		resumeFrom = latest
	}
	s := &stream{logic: l, write: send, jobID: job.Id, sent: resumeFrom}
	if err := s.send(resumeFrom, events.Snapshot, jobview.Item(job)); err != nil {
		return ignoreDone(err)
	}
	if err := s.catchUp(latest); err != nil {
		return ignoreDone(err)
	}
	if model.IsTerminal(job.Status) {
		// Replayed events end with the stored done, if it is still kept; otherwise it is now.
		return ignoreDone(s.sendDone(s.sent + 1))
	}

	check := time.NewTicker(streamCheck)
	defer check.Stop()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return nil // fell too far behind, or shutdown: the client resumes from its last id
			}
			if err := s.catchUp(ev.ID - 1); err != nil {
				return ignoreDone(err)
			}
			if err := s.forward(*ev); err != nil {
				return ignoreDone(err)
			}
		case <-check.C:
			if err := s.check(); err != nil {
				return ignoreDone(err)
			}
		case <-l.ctx.Done():
			return nil
		}
	}
}

func ignoreDone(err error) error {
	if errors.Is(err, errStreamDone) {
		return nil
	}
	return err
}

func parseLastEventID(s string) (int64, bool, error) {
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

// stream is one client's position in a job's events.
type stream struct {
	logic *StreamJobLogic
	write func(*types.StreamEvent) error
	jobID string
	sent  int64 // number of the last event sent
}

func (s *stream) send(id int64, name string, data any) error {
	if err := s.write(&types.StreamEvent{Id: id, Event: name, Data: data}); err != nil {
		return err
	}
	s.sent = max(s.sent, id)
	return nil
}

// forward sends ev unless it was sent already; a done event carries the job as MySQL has it.
func (s *stream) forward(ev events.Event) error {
	if ev.ID <= s.sent {
		return nil
	}
	if ev.Name == events.Done {
		return s.sendDone(ev.ID)
	}
	return s.send(ev.ID, ev.Name, ev.Data)
}

// sendDone sends the job with its result as the done event, then ends the stream.
func (s *stream) sendDone(id int64) error {
	job, err := s.logic.svcCtx.Jobs.FindOne(s.logic.ctx, s.jobID)
	if err != nil {
		return err
	}
	if err := s.send(id, events.Done, jobview.Detail(job)); err != nil {
		return err
	}
	return errStreamDone
}

// catchUp sends the kept events numbered after the last one sent, up to upTo.
func (s *stream) catchUp(upTo int64) error {
	if upTo <= s.sent {
		return nil
	}
	missed, err := s.logic.svcCtx.Events.Range(s.logic.ctx, s.jobID, s.sent, upTo)
	if err != nil {
		return err
	}
	for _, ev := range missed {
		if err := s.forward(ev); err != nil {
			return err
		}
	}
	return nil
}

// check catches up with events the subscription missed, and ends the stream if the job
// is terminal although no done event came.
func (s *stream) check() error {
	latest, err := s.logic.svcCtx.Events.LastID(s.logic.ctx, s.jobID)
	if err != nil {
		return err
	}
	if err := s.catchUp(latest); err != nil {
		return err
	}
	job, err := s.logic.svcCtx.Jobs.FindOne(s.logic.ctx, s.jobID)
	if err != nil {
		return err
	}
	if model.IsTerminal(job.Status) {
		return s.sendDone(s.sent + 1)
	}
	return nil
}
