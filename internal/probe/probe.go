// Package probe answers the liveness and readiness probes, GET /healthz and GET /readyz, in
// front of the API's router: no token, and never in go-zero's request log.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"jobs/internal/apperr"
)

// Paths of the probes.
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
)

// Check is one dependency readiness waits for.
type Check struct {
	Name  string // what a 503 names, e.g. "mysql"
	Check func(ctx context.Context) error
}

// Config bounds the cost of readiness.
type Config struct {
	// Timeout bounds one round of checks (they run at once).
	Timeout time.Duration
	// CacheFor is how long a round's outcome answers further probes, so probes from many
	// kubelets or load balancers cost one round per CacheFor at most.
	CacheFor time.Duration
}

// Probes serves LivePath and ReadyPath (GET and HEAD) in front of the router.
type Probes struct {
	next     http.Handler
	ready    *readiness
	stopping atomic.Bool
}

// New returns the probes, handing every other request to next. /healthz answers 200 while
// the process serves HTTP. /readyz answers 200 when every check passes, else a 503 envelope
// naming each failing check, e.g. "redis unavailable: ...", or "shutting down" once
// ShuttingDown has been called.
func New(cfg Config, checks []Check, next http.Handler) *Probes {
	return &Probes{next: next, ready: &readiness{cfg: cfg, checks: checks}}
}

// ShuttingDown makes /readyz answer 503 "shutting down" from now on, whatever the checks
// say, so that load balancers stop sending requests while those in flight finish.
func (p *Probes) ShuttingDown() { p.stopping.Store(true) }

func (p *Probes) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		p.next.ServeHTTP(w, req)
		return
	}
	switch req.URL.Path {
	case LivePath:
		write(w, http.StatusOK, "ok")
	case ReadyPath:
		if p.stopping.Load() {
			write(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		if err := p.ready.check(); err != nil {
			write(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		write(w, http.StatusOK, "ok")
	default:
		p.next.ServeHTTP(w, req)
	}
}

func write(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Cache-Control", "no-store")
	apperr.Write(w, status, message, nil)
}

// readiness runs the checks at most once per CacheFor; probes arriving while a round runs
// wait for it (the mutex) and share its outcome.
type readiness struct {
	cfg    Config
	checks []Check

	mu        sync.Mutex
	checkedAt time.Time
	err       error
}

func (r *readiness) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checkedAt.IsZero() && time.Since(r.checkedAt) < r.cfg.CacheFor {
		return r.err
	}
	// Not the request's context: a prober that hangs up must not fail the round it shares.
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	type outcome struct {
		i   int
		err error
	}
	// Buffered: a check that overruns the timeout finishes later without blocking.
	outcomes := make(chan outcome, len(r.checks))
	for i, c := range r.checks {
		go func() { outcomes <- outcome{i, c.Check(ctx)} }()
	}
	// A check counts as failed until it answers in time.
	problems := make([]string, len(r.checks))
	for i, c := range r.checks {
		problems[i] = fmt.Sprintf("%s unavailable: no answer within %v", c.Name, r.cfg.Timeout)
	}
wait:
	for range r.checks {
		select {
		case o := <-outcomes:
			switch {
			case o.err == nil:
				problems[o.i] = ""
			case ctx.Err() == nil: // else it failed for want of time: no answer in time
				problems[o.i] = fmt.Sprintf("%s unavailable: %v", r.checks[o.i].Name, o.err)
			}
		case <-ctx.Done():
			break wait
		}
	}
	r.err, r.checkedAt = nil, time.Now()
	if message := strings.Join(slices.DeleteFunc(problems, func(p string) bool { return p == "" }), "; "); message != "" {
		r.err = errors.New(message)
	}
	return r.err
}
