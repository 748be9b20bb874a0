package jobs

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/events"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

// resultRecheck is how often a waiting result request reads the job again in case the
// announcement of its end was lost.
const resultRecheck = time.Second

type GetJobResultLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Job result; wait holds the request until the job is terminal
func NewGetJobResultLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetJobResultLogic {
	return &GetJobResultLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// GetJobResult answers at once for a terminal job or wait=0; otherwise it waits for the
// job's done event (rereading the job every second in case the event was lost) until wait
// runs out or the process begins to stop, and answers with the job as it then is.
func (l *GetJobResultLogic) GetJobResult(req *types.JobResultReq) (*types.JobResult, error) {
	wait, err := jobview.ParseWait(req.Wait)
	if err != nil {
		return nil, err
	}
	job, err := jobquery.Find(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil || wait == 0 || job.State().Terminal() {
		return resultOf(job, err)
	}
	announced := make(chan struct{}, 1)
	sub := l.svcCtx.Hub.Subscribe(job.Id, events.NotifyFunc(func() {
		select {
		case announced <- struct{}{}:
		default:
		}
	}))
	defer sub.Close()
	// Read again after subscribing: an end from here on is announced on sub.
	// Rereads stay in the job's tenant, which Find checked the caller may read.
	tenant := job.TenantId
	if job, err = l.svcCtx.Jobs.FindForTenant(l.ctx, tenant, req.Id); err != nil || job.State().Terminal() {
		return resultOf(job, err)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	recheck := time.NewTicker(resultRecheck)
	defer recheck.Stop()
	stopping := false
	for !job.State().Terminal() && !stopping {
		select {
		case <-deadline.C:
			return resultOf(job, nil)
		case <-l.ctx.Done():
			return nil, l.ctx.Err()
		case <-l.svcCtx.Hub.Done():
			// The process is stopping: answer with the job as it stands now, as when wait
			// runs out, rather than hold the HTTP drain until it cuts the request off.
			stopping = true
		case <-announced:
			// A done or a check makes the job worth rereading; a subscription closed
			// because it fell behind leaves it to the rechecks.
			if d := sub.Take(); !d.Check && !hasDone(d.Events) {
				continue
			}
		case <-recheck.C:
		}
		if job, err = l.svcCtx.Jobs.FindForTenant(l.ctx, tenant, req.Id); err != nil {
			return nil, err
		}
	}
	return resultOf(job, nil)
}

func hasDone(evs []*events.Event) bool {
	for _, ev := range evs {
		if ev.Name == events.Done {
			return true
		}
	}
	return false
}

func resultOf(job *model.Jobs, err error) (*types.JobResult, error) {
	if err != nil {
		return nil, err
	}
	return jobview.Result(job), nil
}
