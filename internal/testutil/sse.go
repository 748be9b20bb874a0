package testutil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Event is one parsed Server-Sent Event.
type Event struct {
	ID   int64
	Name string
	Data json.RawMessage
}

// Stream is an open event stream, read the way curl -N reads it: no Accept header.
type Stream struct {
	Resp   *http.Response
	cancel context.CancelFunc
	lines  *bufio.Scanner
	Pings  int
}

// OpenStream opens the job's event stream; lastEventID, if not empty, is sent as
// Last-Event-ID. It fails the test unless the server answers 200 text/event-stream.
// The stream is closed when the test ends.
func (a *App) OpenStream(jobID, lastEventID string) *Stream {
	a.t.Helper()
	return a.OpenStreamAt("/api/v1/jobs/"+jobID+"/stream", lastEventID)
}

// OpenStreamAt opens the event stream at path (e.g. /api/v1/events), like OpenStream.
func (a *App) OpenStreamAt(path, lastEventID string) *Stream {
	a.t.Helper()
	s, status, body := a.TryStreamAt(path, lastEventID)
	if s == nil {
		a.t.Fatalf("stream %s: %d %s", path, status, body)
	}
	return s
}

// TryStream opens the job's event stream; when the answer is not a stream it returns nil
// with the status and body.
func (a *App) TryStream(jobID, lastEventID string) (*Stream, int, string) {
	a.t.Helper()
	return a.TryStreamAt("/api/v1/jobs/"+jobID+"/stream", lastEventID)
}

// TryStreamAt opens the event stream at path (e.g. /api/v1/events), like TryStream.
func (a *App) TryStreamAt(path, lastEventID string) (*Stream, int, string) {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.httpClient().Do(req)
	if err != nil {
		cancel()
		a.t.Fatalf("open stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		defer cancel()
		defer resp.Body.Close()
		var body strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
		return nil, resp.StatusCode, body.String()
	}
	s := &Stream{Resp: resp, cancel: cancel, lines: bufio.NewScanner(resp.Body)}
	a.t.Cleanup(s.Close)
	return s, resp.StatusCode, ""
}

// Close disconnects.
func (s *Stream) Close() {
	s.cancel()
	s.Resp.Body.Close()
}

// Next returns the next event, counting ": ping" comments on the way. It returns an error
// at the end of the stream or after timeout.
func (s *Stream) Next(timeout time.Duration) (Event, error) {
	type result struct {
		ev  Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		var ev Event
		seen := false
		for s.lines.Scan() {
			line := s.lines.Text()
			switch {
			case line == "":
				if seen {
					done <- result{ev: ev}
					return
				}
			case strings.HasPrefix(line, ": ping"):
				s.Pings++
			case strings.HasPrefix(line, "id: "):
				id, err := strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
				if err != nil {
					done <- result{err: fmt.Errorf("bad id line %q", line)}
					return
				}
				ev.ID, seen = id, true
			case strings.HasPrefix(line, "event: "):
				ev.Name, seen = strings.TrimPrefix(line, "event: "), true
			case strings.HasPrefix(line, "data: "):
				ev.Data, seen = json.RawMessage(strings.TrimPrefix(line, "data: ")), true
			default:
				done <- result{err: fmt.Errorf("unexpected line %q", line)}
				return
			}
		}
		err := s.lines.Err()
		if err == nil {
			err = fmt.Errorf("stream ended")
		}
		done <- result{err: err}
	}()
	select {
	case r := <-done:
		return r.ev, r.err
	case <-time.After(timeout):
		s.Close()
		<-done
		return Event{}, fmt.Errorf("no event within %s", timeout)
	}
}

// Collect reads events until the stream ends and returns them; it fails the test if a
// read takes longer than timeout or the stream does not end after a done event.
func (s *Stream) Collect(t testing.TB, timeout time.Duration) []Event {
	t.Helper()
	var evs []Event
	for {
		ev, err := s.Next(timeout)
		if err != nil {
			if len(evs) > 0 && evs[len(evs)-1].Name == "done" && err.Error() == "stream ended" {
				return evs
			}
			t.Fatalf("after %d events (%v): %v", len(evs), EventNames(evs), err)
		}
		evs = append(evs, ev)
	}
}

// EventNames describes events as "id:name", for failure messages.
func EventNames(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%d:%s", e.ID, e.Name)
	}
	return out
}
