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
	"jobs/internal/startreq"
	"jobs/internal/svc"
	"jobs/internal/types"
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

// StartJob commits the job as pending, then enqueues it. The job is durable before the
// response is written; if Redis refuses the enqueue, the recovery sweep enqueues it later.
// Once the request is valid, the insert and the enqueue run to the end whatever the client
// does: a client that hangs up mid-insert must not leave a job committed but not on the
// stream (it would wait for Recovery.StaleEnqueue).
//
// With an idempotency key, the unique index (tenant_id, idempotency_key) decides: the
// insert that loses (it meets the key and inserts nothing) reads and returns the job that
// won, and enqueues nothing. There is no read-before-write, so concurrent retries cannot
// both insert.
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
	// A delayed job is stored unenqueued; the scheduler (internal/recovery) enqueues it
	// once it is due. Until then no stream entry exists that a worker could claim early.
	delayed := runAt.After(now)
	job.EnqueuedAt.Valid = !delayed
	job.IdempotencyKey.String, job.IdempotencyKey.Valid = req.IdempotencyKey, req.IdempotencyKey != ""
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), commitTimeout)
	defer cancel()
	inserted, err := l.svcCtx.Jobs.InsertOnce(ctx, job)
	if err != nil {
		return nil, err
	}
	if !inserted {
		// Another start with this idempotency key got there first.
		first, err := l.svcCtx.Jobs.FindOneByTenantIdIdempotencyKey(ctx, job.TenantId, job.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		return jobview.Detail(first), nil
	}
	// Announced before it is enqueued, so its tenant never hears of a worker's "running"
	// before the job itself.
	if err := l.svcCtx.Events.Publish(l.ctx, events.Created(job)); err != nil {
		l.Errorf("job %s is stored; announcing it to its tenant's event streams failed: %v", job.Id, err)
	}
	if delayed {
		return jobview.Detail(job), nil
	}
	if err := l.svcCtx.Dispatcher.Enqueue(ctx, job.Id); err != nil {
		l.Errorf("job %s is stored but not yet enqueued (the sweep will enqueue it): %v", job.Id, err)
	}
	return jobview.Detail(job), nil
}
