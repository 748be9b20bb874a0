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

type ListSchedulesLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The tenant's schedules, by id
func NewListSchedulesLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ListSchedulesLogic {
	return &ListSchedulesLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ListSchedulesLogic) ListSchedules(req *types.ListSchedulesReq) (*types.ScheduleList, error) {
	tenant, err := schedule.ListScope(l.ctx, req.TenantId)
	if err != nil {
		return nil, err
	}
	list, err := l.svcCtx.Schedules.List(l.ctx, tenant)
	if err != nil {
		return nil, err
	}
	return &types.ScheduleList{Schedules: schedule.Views(list)}, nil
}
