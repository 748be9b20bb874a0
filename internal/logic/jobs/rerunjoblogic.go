package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/functions"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/startreq"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

type RerunJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Rerun a terminal job
func NewRerunJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *RerunJobLogic {
	return &RerunJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *RerunJobLogic) RerunJob(req *types.JobIdReq) (*types.JobDetail, error) {
	job, err := jobquery.Find(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	job, err = rerunJob(l.svcCtx, job)
	if err != nil {
		return nil, err
	}
	rerun, err := commitJob(l.ctx, l.svcCtx, job)
	if err != nil {
		return nil, err
	}
	return jobview.Detail(rerun), nil
}

// rerunJob returns the new job that reruns the terminal job old, for the caller to commit:
// like old in its function, params, name, actor, gameId, env, maxAttempts, timeout and
// callbackUrl, in its tenant, with rerunOf naming it. old itself is not touched. A job that
// is not terminal, whose function is no longer registered, or whose fields a start would
// refuse now (the function's rules or the limits changed since) is a Conflict naming why.
func rerunJob(svcCtx *svc.ServiceContext, old *model.Jobs) (*model.Jobs, error) {
	if !old.State().Terminal() {
		return nil, apperr.New(apperr.Conflict, "job %s is %s: only a completed, failed or cancelled job can be rerun", old.Id, old.Status)
	}
	if _, ok := svcCtx.Functions.Lookup(old.FunctionId); !ok {
		return nil, apperr.New(apperr.Conflict, "job %s cannot be rerun: its function %q is no longer registered", old.Id, old.FunctionId)
	}
	// Checked as a start of its fields would be, or the rerun would store a job its function
	// refuses at run time (a param its argv needs, params over what a command's environment
	// takes). maxAttempts and timeout stay old's: they may be the function's defaults, which a
	// start's limits do not bound.
	params, _ := functions.DecodeParams([]byte(old.Params))
	if _, err := svcCtx.StartRules().Check(startreq.Fields{FunctionId: old.FunctionId, Name: old.Name, Params: params,
		Actor: old.Actor, GameId: old.GameId, Env: old.Env, CallbackUrl: old.CallbackUrl}); err != nil {
		var refused *apperr.Error
		if !errors.As(err, &refused) {
			return nil, err
		}
		return nil, apperr.New(apperr.Conflict, "job %s cannot be rerun: %s", old.Id, refused.Message)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	job := &model.Jobs{
		Id:          id.String(),
		TenantId:    old.TenantId,
		FunctionId:  old.FunctionId,
		Name:        old.Name,
		Status:      string(model.StatusPending),
		Params:      old.Params,
		Actor:       old.Actor,
		GameId:      old.GameId,
		Env:         old.Env,
		RerunOf:     old.Id,
		MaxAttempts: old.MaxAttempts,
		TimeoutMs:   old.TimeoutMs,
		CreatedAt:   time.Now().UTC().Truncate(time.Millisecond),
	}
	if old.CallbackUrl != "" {
		job.CallbackUrl, job.CallbackId, job.CallbackStatus = old.CallbackUrl, uuid.NewString(), model.CallbackPending
	}
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = job.CreatedAt, true
	return job, nil
}
