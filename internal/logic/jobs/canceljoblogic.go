package jobs

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/events"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/metrics"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

type CancelJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Cancel a pending or running job
func NewCancelJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CancelJobLogic {
	return &CancelJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// CancelJob moves the job to cancelled with a compare-and-set on the status it was read
// in; if a worker moved it meanwhile, it reads again and retries. A running job's worker
// is then told over Redis to stop the function (and, should the signal be lost, finds out
// at its next heartbeat). Once the job is found, the rest runs whatever the client does
// (detached).
func (l *CancelJobLogic) CancelJob(req *types.JobIdReq) (*types.CancelJobResp, error) {
	job, err := jobquery.Find(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := detached(l.ctx)
	defer cancel()
	for {
		if job.State().Terminal() {
			return nil, apperr.New(apperr.Conflict, "job %s is already %s", job.Id, job.Status)
		}
		won, err := l.svcCtx.Jobs.Cancel(ctx, job.Id, job.State())
		if err != nil {
			return nil, err
		}
		if won {
			// Counted and signalled before the re-read, which needs MySQL again: a failing
			// re-read must not leave the function running until its next heartbeat.
			metrics.JobFinished(job.FunctionId, string(model.StatusCancelled))
			if job.State() == model.StatusRunning {
				if err := l.svcCtx.Queue.PublishCancel(ctx, job.Id); err != nil {
					l.Errorf("job %s cancelled; signalling its worker failed (it stops at its next heartbeat): %v", job.Id, err)
				}
			}
		}
		if job, err = l.svcCtx.Jobs.FindForTenant(ctx, job.TenantId, job.Id); err != nil {
			return nil, err
		}
		if !won {
			continue
		}
		if err := l.svcCtx.Events.Publish(ctx, events.StatusChange(job.Id, events.OwnerOf(job), job.State(), job.Attempt, job.Error)...); err != nil {
			l.Errorf("job %s cancelled; announcing it to streams failed: %v", job.Id, err)
		}
		return &types.CancelJobResp{JobDetail: *jobview.Detail(job)}, nil
	}
}

// followUpTimeout bounds the work detached from a request.
const followUpTimeout = 10 * time.Second

// detached returns ctx's values without its cancellation, bounded by followUpTimeout, for a
// change that may commit: a client that hangs up (or a route timeout) mid-change must not
// leave it committed but unannounced, its running jobs' workers never told to stop them.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), followUpTimeout)
}
