package jobs

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/events"
	"jobs/internal/jobview"
	"jobs/internal/metrics"
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
	if req.Actor == "" {
		req.Actor = caller.Actor
	}
	checked, err := l.svcCtx.StartRules().Check(startreq.Fields{FunctionId: req.FunctionId, Name: req.Name,
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
	stored, err := commitJob(l.ctx, l.svcCtx, l.Logger, job)
	if err != nil {
		return nil, err
	}
	return jobview.Detail(stored), nil
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
