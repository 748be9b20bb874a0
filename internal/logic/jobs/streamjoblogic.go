package jobs

import (
	"context"
	"slices"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/events"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/sse"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

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

// StreamJob sends a snapshot, then (on reconnect) the events after Last-Event-ID that the
// client missed, or (on a fresh stream) the job's recent log lines, and returns the source
// of the live events that follow, until the job is done. It subscribes before reading the
// job and the latest event number, so nothing falls between replay and live; numbers already
// sent are skipped, and a gap in the live numbers is filled from Redis. A reconnect after the
// job's done is answered 204 No Content.
func (l *StreamJobLogic) StreamJob(req *types.StreamJobReq, out *sse.Stream) (sse.Source, error) {
	resumeFrom, resuming, err := sse.ParseLastEventID(req.LastEventId)
	if err != nil {
		return nil, err
	}
	// jobquery.Find (in open) checks the id too, but only after the subscription and a Redis
	// read, which a malformed id should not cost.
	if err := jobview.ParseID(req.JobId); err != nil {
		return nil, err
	}
	s := &jobStream{svcCtx: l.svcCtx, jobID: req.JobId}
	s.sub = l.svcCtx.Hub.Subscribe(req.JobId, out.Wake)
	if err := s.open(l.ctx, out, resumeFrom, resuming); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// jobStream is one client's position in a job's events. It holds no request state, so
// an idle stream keeps little memory.
type jobStream struct {
	svcCtx *svc.ServiceContext
	jobID  string
	sub    *events.Subscription
	sent   int64 // number of the last event sent
}

// open sends the first events. A resume (Last-Event-ID at or before the latest kept event)
// gets a snapshot numbered with the client's id and every kept event after it; a client
// that has had the job's done gets ErrNoContent. A fresh stream (or one whose events Redis
// lost) gets a snapshot and, while the job runs, its last log lines (Worker.LogTail of
// them); a terminal job's done ends it at once (sse.ErrDone).
func (s *jobStream) open(ctx context.Context, out *sse.Stream, resumeFrom int64, resuming bool) error {
	// The latest number first: the job read after it is at least as new as that event.
	latest, err := s.svcCtx.Events.LastID(ctx, s.jobID)
	if err != nil {
		return err
	}
	job, err := jobquery.Find(ctx, s.svcCtx.Jobs, s.jobID)
	if err != nil {
		return err
	}
	kept, err := s.svcCtx.Events.Range(ctx, s.jobID, 0, latest)
	if err != nil {
		return err
	}
	if done := doneID(kept); resuming && done > 0 && resumeFrom >= done {
		return sse.ErrNoContent
	}
	if resuming && resumeFrom <= latest {
		if err := s.send(out, resumeFrom, events.Snapshot, jobview.Item(job)); err != nil {
			return err
		}
		if err := s.replay(ctx, out, kept); err != nil {
			return err
		}
		if model.IsTerminal(job.Status) {
			return s.finish(ctx, out, job)
		}
		return nil
	}
	// A fresh stream, or a resume point past the latest number: Redis lost the job's events.
	if model.IsTerminal(job.Status) {
		done := doneID(kept)
		if done == 0 {
			if done, err = s.ensureDone(ctx, job); err != nil {
				return err
			}
		}
		if err := s.send(out, done-1, events.Snapshot, jobview.Item(job)); err != nil {
			return err
		}
		return s.sendDone(ctx, out, done)
	}
	// The snapshot stands for every event up to latest; the log lines are what it cannot
	// show. It takes the number just before the first of them, so a client that resumes
	// from any of them misses nothing.
	logs := recentLogs(kept, s.svcCtx.Config.Worker.LogTail)
	snapshotID := latest
	if len(logs) > 0 {
		snapshotID = logs[0].ID - 1
	}
	if err := s.send(out, snapshotID, events.Snapshot, jobview.Item(job)); err != nil {
		return err
	}
	for _, ev := range logs {
		if err := s.send(out, ev.ID, ev.Name, ev.Data); err != nil {
			return err
		}
	}
	s.sent = latest
	return nil
}

// doneID returns the number of the done among evs, 0 if there is none.
func doneID(evs []events.Event) int64 {
	for _, ev := range slices.Backward(evs) {
		if ev.Name == events.Done {
			return ev.ID
		}
	}
	return 0
}

// recentLogs returns the last n log events of evs.
func recentLogs(evs []events.Event, n int) []events.Event {
	var logs []events.Event
	for _, ev := range evs {
		if ev.Name == events.Log {
			logs = append(logs, ev)
		}
	}
	return logs[max(len(logs)-n, 0):]
}

// Continue forwards the live events delivered since the last call, and checks Redis and
// MySQL when the hub asks it to.
func (s *jobStream) Continue(ctx context.Context, out *sse.Stream) error {
	d := s.sub.Take()
	for _, ev := range d.Events {
		if err := s.catchUp(ctx, out, ev.ID-1); err != nil {
			return err
		}
		if err := s.forward(ctx, out, *ev); err != nil {
			return err
		}
	}
	switch {
	case d.Closed:
		return sse.ErrDone // fell too far behind, or shutdown: the client resumes from its last id
	case d.Check:
		return s.checkMissed(ctx, out)
	}
	return nil
}

// Close ends the subscription.
func (s *jobStream) Close() { s.sub.Close() }

func (s *jobStream) send(out *sse.Stream, id int64, name string, data any) error {
	if err := out.Send(&types.StreamEvent{Id: id, Event: name, Data: data}); err != nil {
		return err
	}
	s.sent = max(s.sent, id)
	return nil
}

// forward sends ev unless it was sent already; a done event carries the job as MySQL has it.
func (s *jobStream) forward(ctx context.Context, out *sse.Stream, ev events.Event) error {
	if ev.ID <= s.sent {
		return nil
	}
	if ev.Name == events.Done {
		return s.sendDone(ctx, out, ev.ID)
	}
	return s.send(out, ev.ID, ev.Name, ev.Data)
}

// sendDone sends the job with its result as the done event, which ends the stream.
func (s *jobStream) sendDone(ctx context.Context, out *sse.Stream, id int64) error {
	job, err := s.svcCtx.Jobs.FindOne(ctx, s.jobID)
	if err != nil {
		return err
	}
	if err := s.send(out, id, events.Done, jobview.Detail(job)); err != nil {
		return err
	}
	return sse.ErrDone
}

// ensureDone returns the number of the terminal job's done, storing one if Redis has none
// (the job ended without its done being published, or its events expired).
func (s *jobStream) ensureDone(ctx context.Context, job *model.Jobs) (int64, error) {
	return s.svcCtx.Events.EnsureDone(ctx, s.jobID, events.StatusData{Status: job.Status, Attempt: job.Attempt, Error: job.Error})
}

// finish ends the stream of a terminal job: the kept events up to its done, then the done.
func (s *jobStream) finish(ctx context.Context, out *sse.Stream, job *model.Jobs) error {
	done, err := s.ensureDone(ctx, job)
	if err != nil {
		return err
	}
	if err := s.catchUp(ctx, out, done-1); err != nil {
		return err
	}
	return s.sendDone(ctx, out, max(done, s.sent+1))
}

// catchUp sends the kept events numbered after the last one sent, up to upTo.
func (s *jobStream) catchUp(ctx context.Context, out *sse.Stream, upTo int64) error {
	if upTo <= s.sent {
		return nil
	}
	missed, err := s.svcCtx.Events.Range(ctx, s.jobID, s.sent, upTo)
	if err != nil {
		return err
	}
	return s.replay(ctx, out, missed)
}

// replay sends those of evs numbered after the last one sent.
func (s *jobStream) replay(ctx context.Context, out *sse.Stream, evs []events.Event) error {
	for _, ev := range evs {
		if err := s.forward(ctx, out, ev); err != nil {
			return err
		}
	}
	return nil
}

// checkMissed catches up with events the subscription missed (a dropped pub/sub message),
// and ends the stream if the job is terminal although no done event came.
func (s *jobStream) checkMissed(ctx context.Context, out *sse.Stream) error {
	latest, err := s.svcCtx.Events.LastID(ctx, s.jobID)
	if err != nil {
		return err
	}
	if err := s.catchUp(ctx, out, latest); err != nil {
		return err
	}
	job, err := s.svcCtx.Jobs.FindOne(ctx, s.jobID)
	if err != nil {
		return err
	}
	if model.IsTerminal(job.Status) {
		return s.finish(ctx, out, job)
	}
	return nil
}
