// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package schedules

import (
	"context"

	"jobs/internal/apperr"
	"jobs/internal/schedule"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"

	"github.com/zeromicro/go-zero/core/logx"
)

type DeleteScheduleLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Delete a schedule
func NewDeleteScheduleLogic(ctx context.Context, svcCtx *svc.ServiceContext) *DeleteScheduleLogic {
	return &DeleteScheduleLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *DeleteScheduleLogic) DeleteSchedule(req *types.ScheduleIdReq) (*types.Schedule, error) {
	s, err := schedule.FindAsked(l.ctx, l.svcCtx.Schedules, req.TenantId, req.Id)
	if err != nil {
		return nil, err
	}
	if s.Source == model.ScheduleFromConfig {
		return nil, apperr.New(apperr.Conflict, "schedule %q is declared in the config; remove it there (or pause it)", req.Id)
	}
	deleted, err := l.svcCtx.Schedules.Delete(l.ctx, s.TenantId, s.Id, model.ScheduleFromAPI)
	if err != nil {
		return nil, err
	}
	if !deleted {
		return nil, apperr.New(apperr.NotFound, "schedule %q not found", req.Id)
	}
	view := schedule.View(s)
	return &view, nil
}
