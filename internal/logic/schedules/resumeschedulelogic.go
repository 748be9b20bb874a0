// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package schedules

import (
	"context"
	"time"

	"jobs/internal/schedule"
	"jobs/internal/svc"
	"jobs/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type ResumeScheduleLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Resume a schedule from its next fire time after now
func NewResumeScheduleLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ResumeScheduleLogic {
	return &ResumeScheduleLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ResumeScheduleLogic) ResumeSchedule(req *types.ScheduleIdReq) (*types.ScheduleDetail, error) {
	s, err := schedule.FindAsked(l.ctx, l.svcCtx.Schedules, req.TenantId, req.Id)
	if err != nil {
		return nil, err
	}
	sched, err := schedule.Parse(s.Cron, s.Timezone)
	if err != nil {
		return nil, err
	}
	// Fire times that passed while it was paused are neither started nor missed.
	if err := l.svcCtx.Schedules.Resume(l.ctx, s.TenantId, s.Id, schedule.Next(sched, time.Now())); err != nil {
		return nil, err
	}
	if s, err = schedule.Find(l.ctx, l.svcCtx.Schedules, s.TenantId, s.Id); err != nil {
		return nil, err
	}
	return schedule.Detail(l.ctx, l.svcCtx.Jobs, s)
}
