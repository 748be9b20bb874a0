// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package schedules

import (
	"context"
	"time"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/schedule"
	"jobs/internal/startreq"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"

	"github.com/zeromicro/go-zero/core/logx"
)

type CreateScheduleLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Create a schedule
func NewCreateScheduleLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CreateScheduleLogic {
	return &CreateScheduleLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *CreateScheduleLogic) CreateSchedule(req *types.CreateScheduleReq) (*types.ScheduleDetail, error) {
	caller, err := auth.FromContext(l.ctx)
	if err != nil {
		return nil, err
	}
	if req.Actor == "" {
		req.Actor = caller.Actor
	}
	s, err := schedule.Build(caller.Tenant, model.ScheduleFromAPI, schedule.Definition{Id: req.Id, Cron: req.Cron,
		Timezone: req.Timezone, Overlap: req.Overlap, Start: startreq.Fields{FunctionId: req.FunctionId, Name: req.Name,
			Params: req.Params, Actor: req.Actor, GameId: req.GameId, Env: req.Env, MaxAttempts: req.MaxAttempts,
			TimeoutSeconds: req.TimeoutSeconds, CallbackUrl: req.CallbackUrl}}, l.svcCtx.StartRules(), time.Now())
	if err != nil {
		return nil, err
	}
	inserted, err := l.svcCtx.Schedules.Insert(l.ctx, s)
	if err != nil {
		return nil, err
	}
	if !inserted {
		return nil, apperr.New(apperr.Conflict, "id: schedule %q exists already", req.Id)
	}
	stored, err := schedule.Find(l.ctx, l.svcCtx.Schedules, caller.Tenant, req.Id)
	if err != nil {
		return nil, err
	}
	return schedule.Detail(l.ctx, l.svcCtx.Jobs, stored)
}
