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

type GetScheduleLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// A schedule with its next run times and last jobs
func NewGetScheduleLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetScheduleLogic {
	return &GetScheduleLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *GetScheduleLogic) GetSchedule(req *types.ScheduleIdReq) (*types.ScheduleDetail, error) {
	s, err := schedule.FindAsked(l.ctx, l.svcCtx.Schedules, req.TenantId, req.Id)
	if err != nil {
		return nil, err
	}
	return schedule.Detail(l.ctx, l.svcCtx.Jobs, s)
}
