// Package functions holds the function contract (Definition, Call, Reporter, RunFunc,
// Permanent) and the registry that maps function ids to definitions, with the built-in
// functions echo, sleep and fail. Configured functions are built by package configured, run
// by packages command and httpcall.
package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"jobs/internal/backoff"
)

// Call is what a function receives about the job it runs.
type Call struct {
	JobID   string
	Attempt int64
	Params  json.RawMessage // always a JSON object
}

// DecodeParams reads a job's params (a JSON object) as the API read them from the start
// request: numbers as json.Number, so an integer beyond a float64's 53 bits stays exact.
func DecodeParams(params []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.UseNumber()
	var m map[string]any
	err := dec.Decode(&m)
	return m, err
}

// Reporter lets a running function report back. Calls are cheap: progress reaches
// MySQL throttled, so a function may report as often as it likes.
type Reporter interface {
	// Progress records work done so far, work in all (0 = unknown) and a short message.
	Progress(done, total int64, message string)
	// Log records one output line; stream is "stdout" or "stderr".
	Log(stream, line string)
}

// MaxResultBytes bounds a result, encoded as JSON. A larger one fails the job: it would fit
// the result column, but not, escaped, one statement under MySQL's max_allowed_packet.
const MaxResultBytes = 1 << 20

// RunFunc runs one attempt of a job. ctx is cancelled when the job is cancelled, times out
// or the worker shuts down; the function should return soon after. The result must be
// JSON-encodable, in at most MaxResultBytes.
type RunFunc func(ctx context.Context, call Call, report Reporter) (result any, err error)

// Definition is a registered function.
type Definition struct {
	ID          string
	Kind        string // "builtin", "command" or "http" ("test" in tests)
	Description string
	// Timeout bounds one attempt; the attempt fails with "timed out after Ns". A job may
	// carry its own (timeoutSeconds at start).
	Timeout time.Duration
	// MaxAttempts is how many attempts a job of this function gets unless it asks for
	// another number at start.
	MaxAttempts int
	// Backoff and MaxBackoff space retries: the n-th retry waits about Backoff*2^(n-1), at
	// most MaxBackoff, with jitter. Zero takes the service's Retry defaults.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// RequiredParams must be present in a job's params; a start without them is a 400.
	RequiredParams []string
	// MaxParamsBytes, if set, bounds params as JSON below Limits.MaxParamsBytes: a start
	// over it is a 413 (a command's params must fit one environment variable).
	MaxParamsBytes int
	// CheckParams, if set, vets params at start (a 400 with its message on error).
	CheckParams func(params map[string]any) error
	Run         RunFunc
}

// MissingParams returns the required params that params lacks, in declaration order.
func (d *Definition) MissingParams(params map[string]any) []string {
	var missing []string
	for _, name := range d.RequiredParams {
		if v, ok := params[name]; !ok || v == nil {
			missing = append(missing, name)
		}
	}
	return missing
}

// RetryDelay is how long to wait before the attempt after attempt (1-based) failed:
// exponential from Backoff, capped at MaxBackoff, with the upper half jittered so that
// jobs failing together do not retry together.
func (d *Definition) RetryDelay(attempt int64) time.Duration {
	return backoff.Delay(d.Backoff, d.MaxBackoff, attempt)
}

// Registry maps function ids to definitions. It is filled at start-up and read-only after.
type Registry struct {
	defs map[string]*Definition
}

// NewRegistry returns a registry holding defs; a duplicate or incomplete definition is an error.
func NewRegistry(defs ...*Definition) (*Registry, error) {
	r := &Registry{defs: make(map[string]*Definition, len(defs))}
	for _, d := range defs {
		switch {
		case d.ID == "":
			return nil, errors.New("function with an empty id")
		case r.defs[d.ID] != nil:
			return nil, fmt.Errorf("function %q: registered twice", d.ID)
		case d.Run == nil:
			return nil, fmt.Errorf("function %q: no Run", d.ID)
		case d.Timeout <= 0:
			return nil, fmt.Errorf("function %q: Timeout must be positive", d.ID)
		case d.MaxAttempts < 1:
			return nil, fmt.Errorf("function %q: MaxAttempts must be at least 1", d.ID)
		}
		r.defs[d.ID] = d
	}
	return r, nil
}

// Lookup returns the function registered as id.
func (r *Registry) Lookup(id string) (*Definition, bool) {
	d, ok := r.defs[id]
	return d, ok
}

// All returns every definition, ordered by id.
func (r *Registry) All() []*Definition {
	out := make([]*Definition, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the job fails at once instead of being retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
