package jobs

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/jobview"
	"jobs/internal/startreq"
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
	stored, err := commitJob(l.ctx, l.svcCtx, job)
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
	checked, err := svcCtx.StartRules().Check(startreq.Fields{FunctionId: req.FunctionId, Name: req.Name,
		Params: req.Params, Actor: req.Actor, GameId: req.GameId, Env: req.Env, MaxAttempts: req.MaxAttempts,
		TimeoutSeconds: req.TimeoutSeconds, CallbackUrl: req.CallbackUrl})
	if err != nil {
		return nil, err
	}
	runAt, err := jobview.ParseRunAt(req.RunAt)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(req.IdempotencyKey) > 255 {
		return nil, apperr.Invalid("idempotencyKey is longer than 255 characters")
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	job, err := checked.Job(caller.Tenant, now)
	if err != nil {
		return nil, err
	}
	job.RunAt.Time, job.RunAt.Valid = runAt, !runAt.IsZero()
	job.IdempotencyKey.String, job.IdempotencyKey.Valid = req.IdempotencyKey, req.IdempotencyKey != ""
	// A delayed job is stored unenqueued; the scheduler (internal/recovery) enqueues it
	// once it is due.
	delayed := job.RunAt.Valid && job.RunAt.Time.After(job.CreatedAt)
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = job.CreatedAt, !delayed
	return job, nil
}

// commitJob stores a new pending job (together with concurrent starts: svc's starts.Writer),
// announces it and enqueues it unless it is delayed, and returns the job stored: with an
// idempotency key already taken, the tenant's earlier job. Once called it runs to the end
// whatever the client does: a client that hangs up mid-insert must not leave a job committed
// but not on the stream (it would wait for Recovery.StaleEnqueue).
func commitJob(reqCtx context.Context, svcCtx *svc.ServiceContext, job *model.Jobs) (*model.Jobs, error) {
	// The job carries its start's span, so the worker that runs it continues this trace.
	spanCtx, span := tracing.StartJob(reqCtx, job.Id, job.FunctionId)
	defer span.End()
	job.TraceParent = tracing.Parent(spanCtx)
	held, err := svcCtx.Starts.Start(spanCtx, job)
	if err != nil {
		return nil, err
	}
	if held != job {
		// Another start with this idempotency key got there first.
		tracing.SetJob(span, held.Id)
	}
	return held, nil
}
