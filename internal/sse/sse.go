// Package sse owns open Server-Sent Event streams: the handshake (or a JSON error before
// the first event), serialized writes of events and pings, noticing a client's disconnect,
// and closing every stream on shutdown.
//
// Once its first events are out, a stream leaves net/http: the connection is hijacked and
// the handler returns, so net/http's goroutine, buffers and request objects are freed. An
// idle stream then costs a small struct, a ping timer and an entry in the epoll set that
// notices disconnects for all streams; it has no goroutine. Work for a stream (whatever its
// Source has to send, a ping) runs on a goroutine started when the stream is woken, one at a
// time per stream. Where the connection cannot be hijacked (HTTP/2), the stream runs the
// same way while the handler waits for it to end.
package sse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/apperr"
	"jobs/internal/metrics"
	"jobs/internal/types"
)

const (
	// writeTimeout bounds one write to a stream, so a client that stopped reading is cut
	// off instead of holding its connection forever.
	writeTimeout = 30 * time.Second
	// stepTimeout bounds the work of one wake-up of a stream (Redis and MySQL reads).
	stepTimeout = 30 * time.Second
)

// ErrDone ends a stream normally: a Source returns it after the last event.
var ErrDone = errors.New("event stream done")

// ErrNoContent, returned by open before anything is sent, answers 204 No Content: there is
// nothing more to stream, and an EventSource stops reconnecting.
var ErrNoContent = errors.New("nothing more to stream")

// A Source continues a stream after its first events.
type Source interface {
	// Continue sends whatever is due. It runs each time the stream is woken, never twice
	// at once; returning an error (ErrDone after the last event) ends the stream.
	Continue(ctx context.Context, s *Stream) error
	// Close releases what the source holds; it runs once, when the stream has ended.
	Close()
}

// Streams serves event streams and keeps track of the open ones.
type Streams struct {
	ping   time.Duration
	max    int
	ctx    context.Context // for the work of detached streams; cancelled by Close
	cancel context.CancelFunc

	mu      sync.Mutex
	open    map[*Stream]struct{}
	closed  bool
	ended   sync.WaitGroup
	hangups *hangups // started with the first hijacked stream
}

// NewStreams returns a server of at most max open event streams that pings idle clients
// every ping.
func NewStreams(ping time.Duration, max int) *Streams {
	ctx, cancel := context.WithCancel(context.Background())
	return &Streams{ping: ping, max: max, ctx: ctx, cancel: cancel, open: make(map[*Stream]struct{})}
}

// Serve answers r with an event stream. open runs on the request's goroutine with the
// request's context: it sends the first events and returns the Source that continues the
// stream, or ErrDone if there is nothing more to send. An error returned before anything
// was sent is answered as a JSON envelope (a 404 for an unknown job, say), ErrNoContent as
// 204 No Content: the stream only starts once there is something to stream.
func (ss *Streams) Serve(w http.ResponseWriter, r *http.Request, open func(ctx context.Context, s *Stream) (Source, error)) {
	s := &Stream{streams: ss, w: w, busy: true}
	if err := ss.add(s); err != nil {
		httpx.ErrorCtx(r.Context(), w, err)
		return
	}
	src, err := open(r.Context(), s)
	if err == nil && src == nil {
		err = ErrDone
	}
	if err == nil && s.out == nil {
		err = s.start()
	}
	switch {
	case err == nil:
		s.source = src
	case s.out == nil && errors.Is(err, ErrNoContent):
		ss.remove(s)
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	case s.out == nil && !errors.Is(err, ErrDone):
		ss.remove(s)
		httpx.ErrorCtx(r.Context(), w, err)
		return
	default:
		s.end(err)
	}
	s.run() // whatever arrived meanwhile; then the stream is woken when there is more
	if s.wait != nil {
		// Streaming through net/http: the handler must not return while the stream writes.
		select {
		case <-s.wait:
		case <-r.Context().Done():
			s.Close()
			<-s.wait
		}
	}
}

// Close closes every open stream, waits until they have ended and refuses new ones.
func (ss *Streams) Close() {
	ss.mu.Lock()
	ss.closed = true
	open := make([]*Stream, 0, len(ss.open))
	for s := range ss.open {
		open = append(open, s)
	}
	ss.mu.Unlock()
	ss.cancel()
	for _, s := range open {
		s.Close()
	}
	ss.ended.Wait()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.hangups != nil {
		ss.hangups.stop()
	}
}

// watchHangup arranges for s to be closed when the client hangs up conn.
func (ss *Streams) watchHangup(conn net.Conn, s *Stream) (func(), error) {
	ss.mu.Lock()
	if ss.hangups == nil {
		h, err := newHangups()
		if err != nil {
			ss.mu.Unlock()
			return nil, err
		}
		ss.hangups = h
	}
	h := ss.hangups
	ss.mu.Unlock()
	return h.watch(conn, s)
}

// Open returns how many streams are open.
func (ss *Streams) Open() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.open)
}

func (ss *Streams) add(s *Stream) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return apperr.New(apperr.Unavailable, "the server is shutting down")
	}
	if len(ss.open) >= ss.max {
		return apperr.New(apperr.Unavailable, "this server has %d event streams open, its limit (Events.MaxStreams); retry later", ss.max)
	}
	ss.open[s] = struct{}{}
	ss.ended.Add(1)
	metrics.StreamOpened()
	return nil
}

func (ss *Streams) remove(s *Stream) {
	ss.mu.Lock()
	delete(ss.open, s)
	ss.mu.Unlock()
	metrics.StreamClosed()
	ss.ended.Done()
}

// Stream is one client's event stream.
type Stream struct {
	streams *Streams
	w       http.ResponseWriter // until the stream starts
	source  Source
	ping    *time.Timer
	unwatch func() // stops watching a hijacked connection for the client's hangup
	// wait is closed when the stream has ended, if it streams through net/http (the
	// handler waits for it); nil for a hijacked connection.
	wait chan struct{}

	mu      sync.Mutex
	out     output // set once the stream has started
	busy    bool   // a goroutine is working for the stream: open, or a wake-up
	woken   bool   // there is work for the busy goroutine
	pingDue bool
	closed  bool
}

// output is where a started stream's bytes go.
type output interface {
	write(p []byte) error
	// close ends the response; for a hijacked connection it also interrupts a write in
	// progress.
	close()
}

// errClientGone marks write failures: the client went away or stopped reading.
var errClientGone = errors.New("client gone")

// Send writes one event. It must be called from open or from the Source's Continue.
func (s *Stream) Send(ev *types.StreamEvent) error {
	data, ok := ev.Data.(json.RawMessage) // live events arrive as JSON already
	if !ok {
		var err error
		if data, err = json.Marshal(ev.Data); err != nil {
			return err
		}
	}
	if s.out == nil {
		if err := s.start(); err != nil {
			return err
		}
	}
	buf := make([]byte, 0, len(data)+len(ev.Event)+40)
	buf = append(buf, "id: "...)
	buf = strconv.AppendInt(buf, ev.Id, 10)
	buf = append(buf, "\nevent: "...)
	buf = append(buf, ev.Event...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	return s.out.write(buf)
}

// Wake asks for the Source's Continue to run soon. It never blocks.
func (s *Stream) Wake() {
	if s.claim(false) {
		go s.run()
	}
}

// claim records that there is work (a ping, if ping) and reports whether the caller now
// holds the stream and must run it.
func (s *Stream) claim(ping bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.woken = true
	s.pingDue = s.pingDue || ping
	if s.busy {
		return false
	}
	s.busy = true
	return true
}

// Close ends the stream; it is safe to call at any time and more than once. A write in
// progress on a hijacked connection is interrupted.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	busy, out := s.busy, s.out
	s.mu.Unlock()
	if !busy {
		s.finish()
	} else if c, ok := out.(*connOutput); ok {
		c.close()
	}
}

// start sends the response head. It takes the connection from net/http where it can.
func (s *Stream) start() error {
	w := s.w
	s.w = nil
	var out output
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2, or a writer that cannot hand over its connection: stream through it.
		w.WriteHeader(http.StatusOK)
		s.wait = make(chan struct{})
		out = &responseOutput{w: w, rc: http.NewResponseController(w), done: s.wait}
	} else {
		// Anything the client sent after its request is ignored: this response ends the
		// connection.
		out = &connOutput{conn: conn}
	}
	s.mu.Lock()
	s.out = out
	s.mu.Unlock()
	if conn != nil {
		if s.unwatch, err = s.streams.watchHangup(conn, s); err != nil {
			return err
		}
		if err := out.write(head(w.Header())); err != nil {
			return err
		}
	}
	// The first ping comes after a random half to whole interval, so streams opened together
	// do not all ping together ever after.
	s.ping = time.AfterFunc(s.streams.ping/2+rand.N(s.streams.ping/2+1), s.pingNow)
	return nil
}

// head is the response head of a hijacked stream: the handler's headers (go-zero's SSE
// headers, CORS) with Connection: close, since the stream's end is the connection's end.
func head(h http.Header) []byte {
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Del("Content-Length")
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// pingNow runs on the ping timer's own goroutine, which does the work if the stream is idle.
func (s *Stream) pingNow() {
	if s.claim(true) {
		s.run()
	}
}

// run does the stream's work until none is left; the next Wake starts another run. The
// goroutine that calls it must hold the stream (busy).
func (s *Stream) run() {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.finish()
			return
		}
		if !s.woken {
			s.busy = false
			s.mu.Unlock()
			return
		}
		s.woken = false
		ping := s.pingDue
		s.pingDue = false
		s.mu.Unlock()

		ctx, cancel := context.WithTimeout(s.streams.ctx, stepTimeout)
		err := s.source.Continue(ctx, s)
		cancel()
		if err == nil && ping {
			if err = s.out.write([]byte(": ping\n\n")); err == nil {
				s.ping.Reset(s.streams.ping)
			}
		}
		if err != nil {
			s.end(err)
		}
	}
}

// end marks the stream closed by the goroutine working for it, logging why unless it
// ended normally or the client went away.
func (s *Stream) end(err error) {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed && !errors.Is(err, ErrDone) && !errors.Is(err, errClientGone) {
		logx.Errorf("event stream ended: %v", err)
	}
}

// finish releases everything the stream holds. It runs once, on the goroutine that
// found the stream closed while it was not busy, or that was working for it.
func (s *Stream) finish() {
	if s.ping != nil {
		s.ping.Stop()
	}
	if s.source != nil {
		s.source.Close()
	}
	if s.unwatch != nil {
		s.unwatch()
	}
	if s.out != nil {
		s.out.close()
	}
	s.streams.remove(s)
}

// connOutput writes to a hijacked connection.
type connOutput struct {
	conn net.Conn
}

func (o *connOutput) write(p []byte) error {
	_ = o.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := o.conn.Write(p); err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}

func (o *connOutput) close() { _ = o.conn.Close() }

// responseOutput writes through net/http; closing it lets the handler return.
type responseOutput struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	done chan struct{}
}

func (o *responseOutput) write(p []byte) error {
	_ = o.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := o.w.Write(p)
	if err == nil {
		err = o.rc.Flush()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}

func (o *responseOutput) close() { close(o.done) }
