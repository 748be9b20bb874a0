package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// StartRequest is a job to start. Only FunctionID is required; zero values leave the
// service's defaults.
type StartRequest struct {
	FunctionID string `json:"functionId"`
	// Params must encode as a JSON object (a map, a struct, a json.RawMessage); nil sends {}.
	Params any    `json:"params,omitempty"`
	Name   string `json:"name,omitempty"`
	// Actor defaults to the token's actor.
	Actor  string `json:"actor,omitempty"`
	GameID string `json:"gameId,omitempty"`
	Env    string `json:"env,omitempty"`
	// IdempotencyKey makes the start safe to retry: the same key from the same tenant
	// returns the job it started first and starts nothing.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// RunAt delays the start: the job stays pending until then.
	RunAt time.Time `json:"runAt,omitzero"`
	// MaxAttempts and TimeoutSeconds override the function's (within the service's limits).
	MaxAttempts    int `json:"maxAttempts,omitempty"`
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// CallbackURL is POSTed the job, signed, once it is terminal.
	CallbackURL string `json:"callbackUrl,omitempty"`
}

// Start starts a job and returns it, pending. The job is durable when Start returns.
func (c *Client) Start(ctx context.Context, req StartRequest) (*JobDetail, error) {
	return fetch[JobDetail](ctx, c, call{method: http.MethodPost, path: "/jobs", body: req})
}

// StartBatch starts jobs in one request (POST /api/v1/jobs/batch, up to the service's
// Limits.MaxBatch, 1,000 by default) and one transaction, and returns them in the order of
// reqs. A bad item is an ErrBadRequest naming it (e.g. "jobs[3].functionId ...") and starts
// none of them. Idempotency keys hold within the batch and against earlier jobs.
func (c *Client) StartBatch(ctx context.Context, reqs []StartRequest) ([]JobItem, error) {
	body := struct {
		Jobs []StartRequest `json:"jobs"`
	}{Jobs: reqs}
	out, err := fetch[struct {
		Jobs []JobItem `json:"jobs"`
	}](ctx, c, call{method: http.MethodPost, path: "/jobs/batch", body: body})
	if err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// Get returns a job with its result.
func (c *Client) Get(ctx context.Context, id string) (*JobDetail, error) {
	return fetch[JobDetail](ctx, c, call{method: http.MethodGet, path: jobPath(id, "")})
}

// maxResultWait is the longest wait the result route holds one request for.
const maxResultWait = 60 * time.Second

// Result returns the job's outcome, waiting up to wait for the job to become terminal
// (0 answers at once). A job still not terminal after wait comes back with its current
// status and a null result. Waits beyond the route's 60 s take several requests.
//
// Within the wait, Result rides out a restart or an outage of the service: a request that
// gets no answer (a connection refused or cut) or a 5xx, 408 or 429 is sent again, after a
// pause from 250 ms doubling up to 5 s or as a Retry-After asks, and so is one answered
// before its wait ran out (the service answers so as it stops, and may refuse the next).
// Once the wait leaves no time for another try, the last failure is returned. Other
// refusals (a 404, a 401) are returned at once.
func (c *Client) Result(ctx context.Context, id string, wait time.Duration) (*JobResult, error) {
	deadline := time.Now().Add(wait)
	var backoff time.Duration
	for {
		step := max(min(time.Until(deadline), c.maxWait).Round(time.Second), 0)
		q := url.Values{"wait": {strconv.Itoa(int(step / time.Second))}}
		asked := time.Now()
		res, err := fetch[JobResult](ctx, c, call{method: http.MethodGet, path: jobPath(id, "result"), query: q, extra: step})
		switch {
		case err != nil && (!transient(err) || ctx.Err() != nil):
			return nil, err
		case err == nil && (res.Status.Terminal() || time.Until(deadline) < time.Second):
			return res, nil
		case err == nil && time.Since(asked) >= step:
			backoff = 0 // the request's wait ran out: ask again at once
			continue
		}
		backoff = nextBackoff(backoff)
		pause := retryWait(backoff, err)
		if time.Until(deadline) < pause {
			return res, err
		}
		if err := sleep(ctx, pause); err != nil {
			return nil, err
		}
	}
}

// Cancel cancels a pending or running job and returns it, cancelled. A job already
// terminal is an ErrConflict whose message names its status.
func (c *Client) Cancel(ctx context.Context, id string) (*JobDetail, error) {
	return fetch[JobDetail](ctx, c, call{method: http.MethodPost, path: jobPath(id, "cancel")})
}

// Functions lists the functions the service runs.
func (c *Client) Functions(ctx context.Context) ([]Function, error) {
	fns, err := fetch[[]Function](ctx, c, call{method: http.MethodGet, path: "/functions"})
	if err != nil {
		return nil, err
	}
	return *fns, nil
}
