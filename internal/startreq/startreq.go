// Package startreq checks the fields of a start request and builds the job row it asks for.
// The start route, schedules (which store a start request and replay it at every fire time)
// and the scheduler share it, so a schedule refuses exactly what a start would.
package startreq

import (
	"encoding/json"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"jobs/internal/apperr"
	"jobs/internal/callbacks"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/model"
)

// Fields are the parts of a start request that say what job to run (not when, nor its
// idempotency key).
type Fields struct {
	FunctionId     string
	Name           string
	Params         any
	Actor          string
	GameId         string
	Env            string
	MaxAttempts    int64
	TimeoutSeconds int64
	CallbackUrl    string
}

// Rules are what fields are checked against.
type Rules struct {
	Functions     *functions.Registry
	Limits        config.LimitsConf
	CallbackAllow []netip.Prefix
}

// Checked is a start request that passed Check: its function, its params encoded as JSON,
// and the attempts and timeout the job gets.
type Checked struct {
	Fields
	Function    *functions.Definition
	ParamsJSON  string
	MaxAttempts int64
	Timeout     time.Duration
}

// Check validates f as the start route does; every error is a 400 (413 for params over
// Limits.MaxParamsBytes) whose message names the field.
func (r Rules) Check(f Fields) (*Checked, error) {
	if f.FunctionId == "" {
		return nil, apperr.Invalid("functionId is required")
	}
	fn, ok := r.Functions.Lookup(f.FunctionId)
	if !ok {
		return nil, apperr.Invalid("functionId %q is not a registered function", f.FunctionId)
	}
	params, err := encodeParams(f.Params, r.Limits.MaxParamsBytes, fn)
	if err != nil {
		return nil, err
	}
	if err := checkParams(fn, f.Params); err != nil {
		return nil, err
	}
	if f.CallbackUrl != "" {
		if err := callbacks.CheckURL(f.CallbackUrl, r.CallbackAllow); err != nil {
			return nil, apperr.Invalid("%v", err)
		}
	}
	c := &Checked{Fields: f, Function: fn, ParamsJSON: params, MaxAttempts: int64(fn.MaxAttempts), Timeout: fn.Timeout}
	if f.MaxAttempts != 0 {
		if f.MaxAttempts < 1 || f.MaxAttempts > r.Limits.MaxAttempts {
			return nil, apperr.Invalid("maxAttempts must be from 1 to %d, not %d", r.Limits.MaxAttempts, f.MaxAttempts)
		}
		c.MaxAttempts = f.MaxAttempts
	}
	if f.TimeoutSeconds != 0 {
		if f.TimeoutSeconds < 1 || f.TimeoutSeconds > r.Limits.MaxTimeoutSeconds {
			return nil, apperr.Invalid("timeoutSeconds must be from 1 to %d, not %d", r.Limits.MaxTimeoutSeconds, f.TimeoutSeconds)
		}
		c.Timeout = time.Duration(f.TimeoutSeconds) * time.Second
	}
	for _, l := range []struct {
		name, value string
		max         int
	}{{"name", f.Name, 255}, {"actor", f.Actor, 128}, {"gameId", f.GameId, 128}, {"env", f.Env, 64}} {
		if utf8.RuneCountInString(l.value) > l.max {
			return nil, apperr.Invalid("%s is longer than %d characters", l.name, l.max)
		}
	}
	return c, nil
}

// Job returns the pending job c asks for in tenant, created now (a UTC time truncated to
// milliseconds) and marked enqueued: the caller commits it, then enqueues it (the stale
// sweep enqueues it if the process dies in between).
func (c *Checked) Job(tenant string, now time.Time) (*model.Jobs, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	job := &model.Jobs{
		Id:          id.String(),
		TenantId:    tenant,
		FunctionId:  c.Function.ID,
		Name:        c.Name,
		Status:      string(model.StatusPending),
		Params:      c.ParamsJSON,
		Actor:       c.Actor,
		GameId:      c.GameId,
		Env:         c.Env,
		MaxAttempts: c.MaxAttempts,
		TimeoutMs:   c.Timeout.Milliseconds(),
		CreatedAt:   now,
	}
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = now, true
	if c.CallbackUrl != "" {
		job.CallbackUrl, job.CallbackId, job.CallbackStatus = c.CallbackUrl, uuid.NewString(), model.CallbackPending
	}
	return job, nil
}

// checkParams applies the function's own rules: required params, then its CheckParams
// (a command's argument templates refuse values that would read as options, for one).
func checkParams(fn *functions.Definition, raw any) error {
	params, _ := raw.(map[string]any)
	if missing := fn.MissingParams(params); len(missing) > 0 {
		return apperr.Invalid("params is missing %s, required by function %q", strings.Join(missing, ", "), fn.ID)
	}
	if fn.CheckParams != nil {
		if err := fn.CheckParams(params); err != nil {
			return apperr.Invalid("%v (function %q)", err, fn.ID)
		}
	}
	return nil
}

// encodeParams checks that params is a JSON object (absent means {}) of at most limit
// bytes, and at most fn's own limit, and encodes it.
func encodeParams(params any, limit int, fn *functions.Definition) (string, error) {
	if params == nil {
		return "{}", nil
	}
	if _, ok := params.(map[string]any); !ok {
		return "", apperr.Invalid("params must be a JSON object")
	}
	encoded, err := json.Marshal(params)
	if err != nil {
		return "", apperr.Wrap(apperr.InvalidArgument, err, "params cannot be encoded as JSON")
	}
	if fn.MaxParamsBytes > 0 && fn.MaxParamsBytes < limit && len(encoded) > fn.MaxParamsBytes {
		return "", apperr.New(apperr.TooLarge, "params is %d bytes as JSON, over the limit of %d bytes of function %q (a %s function)",
			len(encoded), fn.MaxParamsBytes, fn.ID, fn.Kind)
	}
	if len(encoded) > limit {
		return "", apperr.New(apperr.TooLarge, "params is %d bytes as JSON, over the limit of %d bytes", len(encoded), limit)
	}
	return string(encoded), nil
}
