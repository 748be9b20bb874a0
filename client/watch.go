package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is one event of a job's stream: a *SnapshotEvent, *StatusEvent, *ProgressEvent,
// *LogEvent, *ResetEvent or *DoneEvent.
type Event interface {
	// EventID is the event's number; numbers increase along a job's stream.
	EventID() int64
}

// SnapshotEvent is the job as it is when the stream opens.
type SnapshotEvent struct {
	ID  int64
	Job JobItem
}

// StatusEvent is a change of the job's status.
type StatusEvent struct {
	ID      int64  `json:"-"`
	Status  Status `json:"status"`
	Attempt int64  `json:"attempt"`
	Error   string `json:"error"`
}

// ProgressEvent is a progress report of the job's function: Progress of Total (0 =
// unknown) done, with a message.
type ProgressEvent struct {
	ID       int64  `json:"-"`
	Progress int64  `json:"progress"`
	Total    int64  `json:"total"`
	Message  string `json:"message"`
}

// LogEvent is an output line of a command function.
type LogEvent struct {
	ID     int64  `json:"-"`
	Stream string `json:"stream"` // stdout or stderr
	Line   string `json:"line"`
}

// ResetEvent stands for events the watch missed that the service no longer has: a resume
// missed more than it keeps (a job's last Events.MaxLen; reason expired), or Redis lost the
// job's events and numbers them afresh from the reset's ID (reason lost). What the job
// logged among them is lost to the watch. Reload what you show of the job (Get has its last
// output lines), then apply what follows.
type ResetEvent struct {
	ID     int64  `json:"-"`
	Reason string `json:"reason"` // expired or lost
}

// DoneEvent is the last event: the job, terminal, with its result.
type DoneEvent struct {
	ID  int64
	Job JobDetail
}

func (e *SnapshotEvent) EventID() int64 { return e.ID }
func (e *StatusEvent) EventID() int64   { return e.ID }
func (e *ProgressEvent) EventID() int64 { return e.ID }
func (e *LogEvent) EventID() int64      { return e.ID }
func (e *ResetEvent) EventID() int64    { return e.ID }
func (e *DoneEvent) EventID() int64     { return e.ID }

const (
	// defaultWatchIdle is how long a stream may stay silent before Watch takes it for dead
	// and reconnects: API.md promises a ping at least every 15 s.
	defaultWatchIdle = 45 * time.Second
	// defaultReconnectFor is how long Watch keeps trying to reconnect, and ListAll to read
	// its next page, before they give up.
	defaultReconnectFor = time.Minute
	// Reconnects after a failed one (and Result's requests after a failed one) wait from
	// minBackoff, doubling up to maxBackoff (or the server's Retry-After).
	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Watch follows the job's event stream, handing each event (a *SnapshotEvent, *StatusEvent,
// ...) to handle (if not nil) in order, and returns the job as the done event carries it once
// the job is terminal.
//
// A connection that drops is resumed with Last-Event-ID: the events missed meanwhile
// arrive, then live ones, with no gap and no duplicate; if the service no longer keeps all
// the missed ones, a *ResetEvent comes instead of them. The snapshot comes first; after a
// resume, another one comes only if the service could not replay what was missed (its
// Redis lost the job's events), and then stands for it. A resume answered 204 (the job
// ended with an event already seen) yields a DoneEvent with the job as Get returns it.
// Watch keeps reconnecting for a minute, waiting as a 503's Retry-After asks; other errors
// of the service (404, 401) end it, as does the first connection's failing.
//
// An error returned by handle ends Watch with that error.
func (c *Client) Watch(ctx context.Context, id string, handle func(Event) error) (*JobDetail, error) {
	w := &watch{c: c, id: id, handle: handle, lastID: -1}
	var failing outage
	for {
		before := w.lastID
		job, err := w.connect(ctx)
		if job != nil {
			return job, nil
		}
		var stop *stopError
		switch {
		case errors.As(err, &stop):
			return nil, stop.err
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case w.lastID < 0:
			return nil, err // never connected: the caller's to handle
		}
		if w.lastID != before {
			failing.over() // a connection that got somewhere dropped: at once
			continue
		}
		if err := failing.pause(ctx, err, c.reconnectFor); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("jobs client: watch job %s: %w", id, err)
		}
	}
}

// watch is one Watch call's position in the job's stream.
type watch struct {
	c      *Client
	id     string
	handle func(Event) error
	// lastID is the number of the last event seen; -1 until the first snapshot.
	lastID int64
}

// stopError ends Watch: the service refused the stream for good, an event could not be
// read, or handle said so.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// rawEvent is an event as read off the wire.
type rawEvent struct {
	started bool // a field was read
	id      int64
	hasID   bool
	name    string
	data    []byte
	hasData bool
}

// connect opens the stream (resuming after lastID once there is one) and delivers its
// events. It returns the final job after the done event, or the error that ended the
// connection (a *stopError if Watch must not reconnect).
func (w *watch) connect(ctx context.Context) (*JobDetail, error) {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := w.c.newRequest(connCtx, http.MethodGet, jobPath(w.id, "stream"), nil, nil)
	if err != nil {
		return nil, &stopError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	if w.lastID >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(w.lastID, 10))
	}
	// A silent connection (half-open, a stuck proxy) is cut, and resumed like any other.
	idle := time.AfterFunc(w.c.watchIdle, cancel)
	defer idle.Stop()
	resp, err := w.c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jobs client: watch job %s: %w", w.id, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent && w.lastID >= 0:
		return w.doneWithoutEvent(ctx)
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		apiErr := responseError(resp, body)
		if transient(apiErr) {
			return nil, apiErr
		}
		return nil, &stopError{apiErr}
	}

	r := bufio.NewReader(resp.Body)
	var ev rawEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the stream ends only after done
			}
			return nil, fmt.Errorf("jobs client: watch job %s: stream cut: %w", w.id, err)
		}
		idle.Reset(w.c.watchIdle)
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line != "" {
			ev.add(line)
			continue
		}
		if !ev.started {
			continue // the end of a comment (": ping")
		}
		job, err := w.dispatch(ev)
		if err != nil || job != nil {
			return job, err
		}
		ev = rawEvent{}
	}
}

// add applies one line of an event (SSE "field: value"); comments are ignored.
func (ev *rawEvent) add(line string) {
	field, value, _ := strings.Cut(line, ":")
	value = strings.TrimPrefix(value, " ")
	ev.started = ev.started || field != ""
	switch field {
	case "id":
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			ev.id, ev.hasID = n, true
		}
	case "event":
		ev.name = value
	case "data":
		if ev.hasData {
			ev.data = append(ev.data, '\n')
		}
		ev.data, ev.hasData = append(ev.data, value...), true
	}
}

// dispatch delivers ev unless it was seen already, and returns the job once it is done.
func (w *watch) dispatch(ev rawEvent) (*JobDetail, error) {
	if !ev.hasID {
		return nil, &stopError{fmt.Errorf("jobs client: watch job %s: a %q event without an id", w.id, ev.name)}
	}
	resumed := w.lastID >= 0
	if ev.name == "snapshot" {
		// A resume's snapshot is numbered after the last event seen, unless the service lost
		// the job's events and numbers afresh: then it is news, and the numbering restarts.
		seen := resumed && ev.id == w.lastID
		w.lastID = ev.id
		if seen {
			return nil, nil
		}
	} else {
		if !resumed {
			return nil, &stopError{fmt.Errorf("jobs client: watch job %s: the stream began with %q, not a snapshot", w.id, ev.name)}
		}
		// A reset is never repeated; one numbered below the last event seen says the service
		// lost the job's events and numbers afresh from it.
		if ev.id <= w.lastID && ev.name != "reset" {
			return nil, nil
		}
		w.lastID = ev.id
	}
	// The data is the job itself for snapshot and done, the event's fields for the others.
	var event Event
	var data any
	switch ev.name {
	case "snapshot":
		e := &SnapshotEvent{ID: ev.id}
		event, data = e, &e.Job
	case "status":
		e := &StatusEvent{ID: ev.id}
		event, data = e, e
	case "progress":
		e := &ProgressEvent{ID: ev.id}
		event, data = e, e
	case "log":
		e := &LogEvent{ID: ev.id}
		event, data = e, e
	case "reset":
		e := &ResetEvent{ID: ev.id}
		event, data = e, e
	case "done":
		e := &DoneEvent{ID: ev.id}
		event, data = e, &e.Job
	default:
		return nil, nil // an event this client does not know yet
	}
	if err := json.Unmarshal(ev.data, data); err != nil {
		return nil, &stopError{fmt.Errorf("jobs client: watch job %s: event %d (%s): %w", w.id, ev.id, ev.name, err)}
	}
	if err := w.deliver(event); err != nil {
		return nil, err
	}
	if done, ok := event.(*DoneEvent); ok {
		return &done.Job, nil
	}
	return nil, nil
}

// doneWithoutEvent ends a watch whose resume was answered 204: the job is done and its
// done event was numbered no later than the last event seen, so it is read with Get.
func (w *watch) doneWithoutEvent(ctx context.Context) (*JobDetail, error) {
	job, err := w.c.Get(ctx, w.id)
	if err != nil {
		return nil, &stopError{err}
	}
	if !job.Status.Terminal() {
		return nil, &stopError{fmt.Errorf("jobs client: watch job %s: the stream said done (204), but the job is %s", w.id, job.Status)}
	}
	if err := w.deliver(&DoneEvent{ID: w.lastID, Job: *job}); err != nil {
		return nil, err
	}
	return job, nil
}

func (w *watch) deliver(ev Event) error {
	if w.handle == nil {
		return nil
	}
	if err := w.handle(ev); err != nil {
		return &stopError{err}
	}
	return nil
}

// outage paces a call's attempts through failures once the call got somewhere (Watch's
// reconnects, ListAll's pages), until the failures have lasted a limit.
type outage struct {
	since   time.Time // the first failure since the last success; zero if none
	backoff time.Duration
}

// over notes a success: the next failure begins a new outage.
func (o *outage) over() { *o = outage{} }

// pause notes the failure err and waits before the next attempt. It returns an error
// instead once the failures have lasted limit (wrapping err), or ctx's once ctx is done.
func (o *outage) pause(ctx context.Context, err error, limit time.Duration) error {
	if o.since.IsZero() {
		o.since = time.Now()
	} else if time.Since(o.since) > limit {
		return fmt.Errorf("no connection for %s: %w", limit, err)
	}
	o.backoff = nextBackoff(o.backoff)
	return sleep(ctx, retryWait(o.backoff, err))
}

// nextBackoff is the pause before the next attempt after one that followed a pause of
// backoff (0 after none): from minBackoff, doubling up to maxBackoff.
func nextBackoff(backoff time.Duration) time.Duration {
	if backoff == 0 {
		return minBackoff
	}
	return min(2*backoff, maxBackoff)
}

// retryWait is how long to wait before the next attempt after err: the Retry-After of its
// answer if it has one, else backoff.
func retryWait(backoff time.Duration, err error) time.Duration {
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter
	}
	return backoff
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
