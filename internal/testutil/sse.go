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

// OpenStream sends req, a GET of an event stream, with client. When the answer is a
// stream (200 text/event-stream) it returns it, closed when the test ends; otherwise it
// returns nil with the status and body.
func OpenStream(t testing.TB, client *http.Client, req *http.Request) (*Stream, int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(req.Context())
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		defer cancel()
		defer resp.Body.Close()
		var body strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
		return nil, resp.StatusCode, body.String()
	}
	s := &Stream{Resp: resp, cancel: cancel, lines: bufio.NewScanner(resp.Body)}
	t.Cleanup(s.Close)
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
