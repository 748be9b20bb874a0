package stream

import (
	"context"
	"encoding/json"
	"slices"

	"jobs/internal/events"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/types"
	"jobs/model"
)

// JobDeps is what a job's stream reads: the job's events and live announcements, and the
// job itself (MySQL has the truth about its state).
type JobDeps struct {
	Bus  *events.Bus
	Hub  *events.Hub
	Jobs model.JobsModel
	// LogTail is how many of a running job's last log lines a fresh stream gets (Worker.LogTail).
	LogTail int
}

// Job returns the stream of jobID's events to c, resuming after lastEventID (a
// Last-Event-ID header; empty for a first connection). Its first Continue, whose context
// names the caller's tenant, sends a snapshot, then (on reconnect) the events after
// Last-Event-ID that the client missed, or (on a fresh stream) the job's recent log lines;
// live events follow until the job is done. A reconnect after the job's done is done at
// once, having sent nothing.
func Job(deps JobDeps, jobID, lastEventID string, c Client) (*Stream, error) {
	resumeFrom, resuming, err := ParseLastEventID(lastEventID)
	if err != nil {
		return nil, err
	}
	// jobquery.Find (in open) checks the id too, but only after the subscription and a Redis
	// read, which a malformed id should not cost.
	if err := jobview.ParseID(jobID); err != nil {
		return nil, err
	}
	return newStream(&jobLog{JobDeps: deps, jobID: jobID}, deps.Hub.Subscribe(jobID, c), resumeFrom, resuming, c), nil
}

type jobLog struct {
	JobDeps
	jobID string
	// tenant is the job's, which open checked the caller may read; later reads stay in it.
	tenant string
}

// open sends the first events. A resume (Last-Event-ID at or before the latest kept event)
// gets a snapshot numbered with the client's id and every kept event after it; a client
// that has had the job's done gets nothing and is done. A fresh stream (or one whose events
// Redis lost) gets a snapshot and, while the job runs, its last log lines (LogTail of them);
// a terminal job's done ends it at once.
func (l *jobLog) open(ctx context.Context, s *Stream, resumeFrom int64, resuming bool) error {
	// The latest number first: the job read after it is at least as new as that event.
	latest, err := l.Bus.LastID(ctx, l.jobID)
	if err != nil {
		return err
	}
	job, err := jobquery.Find(ctx, l.Jobs, l.jobID)
	if err != nil {
		return err
	}
	l.tenant = job.TenantId
	kept, err := l.Bus.Range(ctx, l.jobID, 0, latest)
	if err != nil {
		return err
	}
	done := doneID(kept)
	if resuming && done > 0 && resumeFrom >= done {
		return errDone
	}
	if resuming && resumeFrom <= latest {
		if err := s.send(resumeFrom, events.Snapshot, asOf(job, kept, resumeFrom)); err != nil {
			return err
		}
		// What the client missed, up to the done (which follows), or a reset if the log no
		// longer has all of it.
		upTo := latest
		if done > 0 {
			upTo = done - 1
		}
		missed, gone := keptAfter(kept, resumeFrom, upTo)
		if err := s.replay(ctx, missed, gone, upTo); err != nil {
			return err
		}
		if job.State().Terminal() {
			return l.finish(ctx, s, job)
		}
		return nil
	}
	// A fresh stream, or a resume point past the latest number: Redis lost the job's events.
	if job.State().Terminal() {
		done := doneID(kept)
		if done == 0 {
			if done, err = l.ensureDone(ctx, job); err != nil {
				return err
			}
		}
		if err := s.send(done-1, events.Snapshot, jobview.Item(job)); err != nil {
			return err
		}
		return l.sendDone(ctx, s, done)
	}
	// The snapshot stands for every event up to latest; the log lines are what it cannot
	// show. It takes the number just before the first of them, so a client that resumes
	// from any of them misses nothing.
	logs := recentLogs(kept, l.LogTail)
	snapshotID := latest
	if len(logs) > 0 {
		snapshotID = logs[0].ID - 1
	}
	if err := s.send(snapshotID, events.Snapshot, asOf(job, kept, latest)); err != nil {
		return err
	}
	for _, ev := range logs {
		if err := s.send(ev.ID, ev.Name, ev.Data); err != nil {
			return err
		}
	}
	s.sent = latest
	return nil
}

// asOf is a running job's snapshot as of event upTo. A worker publishes a progress report at
// once but writes it to MySQL only every Worker.ProgressFlush, so the row may not show yet the
// last report up to upTo, which the client would then not see until the next one. A status
// change is published after its write, so a row read after it is at least as new.
func asOf(job *model.Jobs, kept []events.Event, upTo int64) types.JobItem {
	item := jobview.Item(job)
	if job.State().Terminal() {
		return item
	}
	for _, ev := range slices.Backward(kept) {
		if ev.ID > upTo {
			continue
		}
		switch ev.Name {
		case events.Progress:
			var p events.ProgressData
			if json.Unmarshal(ev.Data, &p) == nil {
				item.Progress, item.Total, item.Message = p.Progress, p.Total, p.Message
			}
			return item
		case events.Status:
			return item
		}
	}
	return item
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

// kept returns the job's kept events in the range, and whether some are gone (see stream.log).
func (l *jobLog) kept(ctx context.Context, after, upTo int64) ([]events.Event, string, error) {
	evs, err := l.Bus.Range(ctx, l.jobID, after, upTo)
	if err != nil {
		return nil, "", err
	}
	missed, gone := keptAfter(evs, after, upTo)
	return missed, gone, nil
}

// keptAfter returns those of evs (a job's kept events, in order) numbered after after, and
// gone: "" if they are all the job's events after it up to upTo, else ResetExpired. The log
// keeps the job's last Events.MaxLen events, numbered one after the other: it has them all
// if it has the one right after after.
func keptAfter(evs []events.Event, after, upTo int64) ([]events.Event, string) {
	i := slices.IndexFunc(evs, func(ev events.Event) bool { return ev.ID > after })
	if i < 0 {
		i = len(evs)
	}
	if upTo > after && (i == len(evs) || evs[i].ID != after+1) {
		return nil, events.ResetExpired
	}
	return evs[i:], ""
}

// forward sends ev; a done event carries the job as MySQL has it.
func (l *jobLog) forward(ctx context.Context, s *Stream, ev events.Event) error {
	if ev.Name == events.Done {
		return l.sendDone(ctx, s, ev.ID)
	}
	return s.send(ev.ID, ev.Name, ev.Data)
}

// sendDone sends the job with its result as the done event, which ends the stream.
func (l *jobLog) sendDone(ctx context.Context, s *Stream, id int64) error {
	job, err := l.Jobs.FindForTenant(ctx, l.tenant, l.jobID)
	if err != nil {
		return err
	}
	if err := s.send(id, events.Done, jobview.Detail(job)); err != nil {
		return err
	}
	return errDone
}

// ensureDone returns the number of the terminal job's done, storing one if Redis has none
// (the job ended without its done being published, or its events expired).
func (l *jobLog) ensureDone(ctx context.Context, job *model.Jobs) (int64, error) {
	return l.Bus.EnsureDone(ctx, l.jobID, events.StatusData{Status: job.State(), Attempt: job.Attempt, Error: job.Error})
}

// finish ends the stream of a terminal job: the kept events up to its done, then the done.
func (l *jobLog) finish(ctx context.Context, s *Stream, job *model.Jobs) error {
	done, err := l.ensureDone(ctx, job)
	if err != nil {
		return err
	}
	if err := s.catchUp(ctx, done-1); err != nil {
		return err
	}
	return l.sendDone(ctx, s, max(done, s.sent+1))
}

// check catches up with events the subscription missed (a dropped pub/sub message), and
// ends the stream if the job is terminal although no done event came. A latest number below
// the last one sent means Redis lost the job's events and numbers new ones from 1 again,
// which the stream would drop as sent: it ends, and its client's reconnect (Last-Event-ID
// past what Redis has) gets a snapshot in the new numbering.
func (l *jobLog) check(ctx context.Context, s *Stream) error {
	latest, err := l.Bus.LastID(ctx, l.jobID)
	if err != nil {
		return err
	}
	if latest < s.sent {
		return errDone
	}
	if err := s.catchUp(ctx, latest); err != nil {
		return err
	}
	job, err := l.Jobs.FindForTenant(ctx, l.tenant, l.jobID)
	if err != nil {
		return err
	}
	if job.State().Terminal() {
		return l.finish(ctx, s, job)
	}
	return nil
}
