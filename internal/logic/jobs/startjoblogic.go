package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/callbacks"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/jobview"
	"jobs/internal/metrics"
	"jobs/internal/svc"
	"jobs/internal/tracing"
	"jobs/internal/types"
	"jobs/model"
)

type StartJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Start a job
func NewStartJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *StartJobLogic {
	return &StartJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// commitTimeout bounds the insert and the enqueue of a start, which no longer follow the
// request once they begin.
const commitTimeout = 10 * time.Second

// StartJob commits the job as pending, then enqueues it (commitJob). The job is durable
// before the response is written; if Redis refuses the enqueue, the recovery sweep enqueues
// it later.
func (l *StartJobLogic) StartJob(req *types.StartJobReq) (*types.JobDetail, error) {
	caller, err := auth.FromContext(l.ctx)
	if err != nil {
		return nil, err
	}
	job, err := newJob(l.svcCtx, caller, req)
	if err != nil {
		return nil, err
	}
	stored, err := commitJob(l.ctx, l.svcCtx, l.Logger, job)
	if err != nil {
		return nil, err
	}
	return jobview.Detail(stored), nil
}

// newJob checks a start request of caller and returns the pending job it asks for, with
// enqueued_at set unless it is delayed. Its errors name the field at fault.
func newJob(svcCtx *svc.ServiceContext, caller auth.Identity, req *types.StartJobReq) (*model.Jobs, error) {
	if req.Actor == "" {
		req.Actor = caller.Actor
	}
	if req.FunctionId == "" {
		return nil, apperr.Invalid("functionId is required")
	}
	fn, ok := svcCtx.Functions.Lookup(req.FunctionId)
	if !ok {
		return nil, apperr.Invalid("functionId %q is not a registered function", req.FunctionId)
	}
	runAt, err := jobview.ParseRunAt(req.RunAt)
	if err != nil {
		return nil, err
	}
	params, err := encodeParams(req.Params, svcCtx.Config.Limits.MaxParamsBytes)
	if err != nil {
		return nil, err
	}
	if err := checkParams(fn, req.Params); err != nil {
		return nil, err
	}
	if req.CallbackUrl != "" {
		if err := callbacks.CheckURL(req.CallbackUrl, svcCtx.CallbackAllow); err != nil {
			return nil, apperr.Invalid("%v", err)
		}
	}
	limits := svcCtx.Config.Limits
	maxAttempts, timeout := int64(fn.MaxAttempts), fn.Timeout
	if req.MaxAttempts != 0 {
		if req.MaxAttempts < 1 || req.MaxAttempts > limits.MaxAttempts {
			return nil, apperr.Invalid("maxAttempts must be from 1 to %d, not %d", limits.MaxAttempts, req.MaxAttempts)
		}
		maxAttempts = req.MaxAttempts
	}
	if req.TimeoutSeconds != 0 {
		if req.TimeoutSeconds < 1 || req.TimeoutSeconds > limits.MaxTimeoutSeconds {
			return nil, apperr.Invalid("timeoutSeconds must be from 1 to %d, not %d", limits.MaxTimeoutSeconds, req.TimeoutSeconds)
		}
		timeout = time.Duration(req.TimeoutSeconds) * time.Second
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"name", req.Name, 255}, {"actor", req.Actor, 128}, {"gameId", req.GameId, 128}, {"env", req.Env, 64},
		{"idempotencyKey", req.IdempotencyKey, 255}} {
		if utf8.RuneCountInString(f.value) > f.max {
			return nil, apperr.Invalid("%s is longer than %d characters", f.name, f.max)
		}
	}

	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	job := &model.Jobs{
		Id:          id.String(),
		TenantId:    caller.Tenant,
		FunctionId:  fn.ID,
		Name:        req.Name,
		Status:      model.StatusPending,
		Params:      params,
		Actor:       req.Actor,
		GameId:      req.GameId,
		Env:         req.Env,
		MaxAttempts: maxAttempts,
		TimeoutMs:   timeout.Milliseconds(),
		CreatedAt:   now,
	}
	job.RunAt.Time, job.RunAt.Valid = runAt, !runAt.IsZero()
	if req.CallbackUrl != "" {
		job.CallbackUrl, job.CallbackId, job.CallbackStatus = req.CallbackUrl, uuid.NewString(), model.CallbackPending
	}
	job.IdempotencyKey.String, job.IdempotencyKey.Valid = req.IdempotencyKey, req.IdempotencyKey != ""
	// A delayed job is stored unenqueued; the scheduler (internal/recovery) enqueues it
	// once it is due (commitJob decides the same for a single start).
	delayed := job.RunAt.Valid && job.RunAt.Time.After(job.CreatedAt)
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = job.CreatedAt, !delayed
	return job, nil
}

// commitJob stores a new pending job, announces it and enqueues it unless it is delayed, and
// returns the job stored: with an idempotency key already taken, the tenant's earlier job.
// Once called it runs to the end whatever the client does: a client that hangs up
// mid-insert must not leave a job committed but not on the stream (it would wait for
// Recovery.StaleEnqueue).
//
// With an idempotency key, the unique index (tenant_id, idempotency_key) decides: the
// insert that loses (it meets the key and inserts nothing) reads and returns the job that
// won, and enqueues nothing. There is no read-before-write, so concurrent retries cannot
// both insert.
func commitJob(reqCtx context.Context, svcCtx *svc.ServiceContext, log logx.Logger, job *model.Jobs) (*model.Jobs, error) {
	// A delayed job is stored unenqueued; the scheduler (internal/recovery) enqueues it
	// once it is due. Until then no stream entry exists that a worker could claim early.
	delayed := job.RunAt.Valid && job.RunAt.Time.After(job.CreatedAt)
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = job.CreatedAt, !delayed
	// The job carries its start's span, so the worker that runs it continues this trace.
	spanCtx, span := tracing.StartJob(reqCtx, job.Id, job.FunctionId)
	defer span.End()
	job.TraceParent = tracing.Parent(spanCtx)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(spanCtx), commitTimeout)
	defer cancel()
	inserted, err := svcCtx.Jobs.InsertOnce(ctx, job)
	if err != nil {
		return nil, err
	}
	if !inserted {
		// Another start with this idempotency key got there first.
		first, err := svcCtx.Jobs.FindOneByTenantIdIdempotencyKey(ctx, job.TenantId, job.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		tracing.SetJob(span, first.Id)
		return first, nil
	}
	metrics.JobStarted(job.FunctionId)
	// Announced before it is enqueued, so its tenant never hears of a worker's "running"
	// before the job itself.
	if err := svcCtx.Events.Publish(reqCtx, events.Created(job)); err != nil {
		log.Errorf("job %s is stored; announcing it to its tenant's event streams failed: %v", job.Id, err)
	}
	if delayed {
		return job, nil
	}
	if err := svcCtx.Dispatcher.Enqueue(ctx, job.Id); err != nil {
		log.Errorf("job %s is stored but not yet enqueued (the sweep will enqueue it): %v", job.Id, err)
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
// bytes and encodes it.
func encodeParams(params any, limit int) (string, error) {
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
	if len(encoded) > limit {
		return "", apperr.New(apperr.TooLarge, "params is %d bytes as JSON, over the limit of %d bytes", len(encoded), limit)
	}
	return string(encoded), nil
}
