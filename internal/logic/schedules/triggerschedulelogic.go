// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package schedules

import (
	"context"
	"time"

	"jobs/internal/apperr"
	"jobs/internal/jobview"
	"jobs/internal/schedule"
	"jobs/internal/starts"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"

	"github.com/zeromicro/go-zero/core/logx"
)

type TriggerScheduleLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Start the schedule's job now
func NewTriggerScheduleLogic(ctx context.Context, svcCtx *svc.ServiceContext) *TriggerScheduleLogic {
	return &TriggerScheduleLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *TriggerScheduleLogic) TriggerSchedule(req *types.ScheduleIdReq) (*types.TriggerScheduleResp, error) {
	s, err := schedule.FindAsked(l.ctx, l.svcCtx.Schedules, req.TenantId, req.Id)
	if err != nil {
		return nil, err
	}
	checked, err := l.svcCtx.StartRules().Check(schedule.Fields(s))
	if err != nil {
		return nil, err
	}
	job, err := checked.Job(s.TenantId, time.Now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return nil, err
	}
	job.ScheduleId = s.Id
	end := starts.Traced(l.ctx, []*model.Jobs{job})
	defer end(nil)
	// Like a start, the insert and the enqueue run to the end whatever the client does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), triggerTimeout)
	defer cancel()
	found, err := l.svcCtx.Schedules.Trigger(ctx, s.TenantId, s.Id, job)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, apperr.New(apperr.NotFound, "schedule %q not found", req.Id)
	}
	starts.Announce(ctx, l.svcCtx.Events, l.svcCtx.Dispatcher, job)
	return &types.TriggerScheduleResp{JobDetail: *jobview.Detail(job)}, nil
}

// triggerTimeout bounds the insert and the enqueue of a trigger.
const triggerTimeout = 10 * time.Second
