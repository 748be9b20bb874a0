package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/types"
)

const (
	// writeTimeout bounds one write to a stream, so a client that stopped reading is cut off
	// instead of holding its connection forever.
	writeTimeout = 30 * time.Second
)

// ServeEvents runs produce on the request's goroutine; produce calls send for each event
// and returns when the stream is over. A ": ping" comment goes out every ping. An error returned before the first send is answered
// as a JSON envelope (a 404 for an unknown job, say): the stream only starts once there is
// something to stream. Pings come from a timer, so an idle stream costs no goroutine of its
// own. send fails once the client is gone; produce should then return.
func ServeEvents(w http.ResponseWriter, r *http.Request, ping time.Duration,
	produce func(ctx context.Context, send func(*types.StreamEvent) error) error) {
	s := &eventWriter{w: w, rc: http.NewResponseController(w), interval: ping}
	err := produce(r.Context(), s.send)
	started := s.close()
	switch {
	case err == nil:
	case !started:
		httpx.ErrorCtx(r.Context(), w, err)
	case r.Context().Err() == nil:
		logx.WithContext(r.Context()).Errorf("event stream ended: %v", err)
	}
}

// eventWriter serializes the writes of events and pings to one response.
type eventWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	interval time.Duration
	mu       sync.Mutex
	started  bool
	closed   bool
	failed   error
	ping     *time.Timer
}

func (s *eventWriter) send(ev *types.StreamEvent) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.w.WriteHeader(http.StatusOK)
		s.ping = time.AfterFunc(s.interval, s.pingNow)
	}
	return s.writeLocked(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", ev.Id, ev.Event, data))
}

func (s *eventWriter) pingNow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.failed != nil {
		return
	}
	if s.writeLocked(": ping\n\n") == nil {
		s.ping.Reset(s.interval)
	}
}

func (s *eventWriter) writeLocked(text string) error {
	if s.failed != nil {
		return s.failed
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprint(s.w, text); err != nil {
		s.failed = err
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.failed = err
	}
	return s.failed
}

// close stops the pings (the response must not be written after the handler returns) and
// reports whether the stream had started.
func (s *eventWriter) close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ping != nil {
		s.ping.Stop()
	}
	return s.started
}
