// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package schedules

import (
	"context"

	"jobs/internal/schedule"
	"jobs/internal/svc"
	"jobs/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type PauseScheduleLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Pause a schedule: its fire times start nothing until it is resumed
func NewPauseScheduleLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PauseScheduleLogic {
	return &PauseScheduleLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *PauseScheduleLogic) PauseSchedule(req *types.ScheduleIdReq) (*types.ScheduleDetail, error) {
	s, err := schedule.FindAsked(l.ctx, l.svcCtx.Schedules, req.TenantId, req.Id)
	if err != nil {
		return nil, err
	}
	if err := l.svcCtx.Schedules.Pause(l.ctx, s.TenantId, s.Id); err != nil {
		return nil, err
	}
	if s, err = schedule.Find(l.ctx, l.svcCtx.Schedules, s.TenantId, s.Id); err != nil {
		return nil, err
	}
	return schedule.Detail(l.ctx, l.svcCtx.Jobs, s)
}
