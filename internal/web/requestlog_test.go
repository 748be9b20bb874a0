package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/web"
)

// logLines collects what is logged, by level.
type logLines struct {
	logx.Writer
	mu    sync.Mutex
	lines map[string][]string
}

func (l *logLines) add(level string, v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, _ := v.(string)
	l.lines[level] = append(l.lines[level], s)
}

func (l *logLines) Info(v any, _ ...logx.LogField)  { l.add("info", v) }
func (l *logLines) Error(v any, _ ...logx.LogField) { l.add("error", v) }
func (l *logLines) Slow(v any, _ ...logx.LogField)  { l.add("slow", v) }

// Not parallel: it swaps the process's log writer.
func TestLogRequestsLogsSlownessAndFailuresButNotWaitsAsked(t *testing.T) {
	lines := &logLines{Writer: logx.NewWriter(&strings.Builder{}), lines: map[string][]string{}}
	previous := logx.Reset()
	logx.SetWriter(lines)
	defer func() { logx.Reset(); logx.SetWriter(previous) }()
	level := logx.ErrorLevel
	logx.SetLevel(logx.InfoLevel)
	defer logx.SetLevel(level)

	handler := web.LogRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("take")); err == nil {
			time.Sleep(d)
		}
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	for _, target := range []string{
		"/api/v1/jobs/x/result?wait=1&take=700ms", // waits as asked: not slow
		"/api/v1/jobs/x/stream?take=700ms",        // a stream: not slow
		"/api/v1/jobs?take=700ms",                 // slow
		"/api/v1/jobs/x/result?take=700ms",        // slow: it asked for no wait
		"/api/v1/jobs?fail=1&access_token=x",      // a failure: logged as an error
	} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Header.Set("X-Test", "dumped")
		handler.ServeHTTP(httptest.NewRecorder(), r)
	}
	lines.mu.Lock()
	defer lines.mu.Unlock()
	if slow := lines.lines["slow"]; len(slow) != 2 || !strings.Contains(slow[0], "GET /api/v1/jobs?take=700ms") ||
		!strings.Contains(slow[1], "/result?take=700ms") {
		t.Errorf("slow calls: %q", slow)
	}
	if errs := lines.lines["error"]; len(errs) != 1 || !strings.Contains(errs[0], "[HTTP] 503") || !strings.Contains(errs[0], "X-Test: dumped") {
		t.Errorf("errors: %q", errs)
	}
	if info := lines.lines["info"]; len(info) != 4 {
		t.Errorf("info lines: %q", info)
	}
}
