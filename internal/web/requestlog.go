package web

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/jobview"
)

// slowRequest is how long a request may take before it is logged as a slow call (go-zero's
// default).
const slowRequest = 500 * time.Millisecond

// LogRequests logs every request once it is answered, in place of go-zero's log middleware
// (off, see app.New), whose slow-call threshold is one for all routes: a result request
// that waits, as asked, is not slow, nor is an event stream, which lasts as long as its job
// where net/http keeps it (HTTP/2). A request is logged at info level; a slow one also
// as a slow call; a 5xx at error level, with its headers (RedactTokens keeps the
// credentials out). A 4xx is the client's mistake, answered with a message: it is not
// logged as an error.
func LogRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // an event stream, whose head is written on the hijacked connection
		}
		// Built only for a log that writes it: with info off, most requests log nothing.
		line := func() string {
			return fmt.Sprintf("[HTTP] %d - %s %s - %s - %s", status, r.Method, r.RequestURI, httpx.GetRemoteAddr(r), r.UserAgent())
		}
		logger := logx.WithContext(r.Context()).WithDuration(took)
		if took > slowRequest+longPoll(r) && !isStreamPath(r.URL.Path) {
			logger.Slowf("%s - slowcall(%s)", line(), took.Round(time.Millisecond))
		}
		if status >= http.StatusInternalServerError {
			headers, _ := httputil.DumpRequest(r, false)
			logger.Errorf("%s\n%s", line(), headers)
			return
		}
		logger.Infofn(func() any { return line() })
	})
}

// longPoll is how long r asks the server to hold it: the result route's wait.
func longPoll(r *http.Request) time.Duration {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/jobs/")
	if !ok || !strings.HasSuffix(rest, "/result") {
		return 0
	}
	wait, err := jobview.ParseWait(r.URL.Query().Get("wait"))
	if err != nil {
		return 0
	}
	return wait
}

// statusWriter records the status a response was sent with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
