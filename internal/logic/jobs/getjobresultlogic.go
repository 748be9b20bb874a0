package jobs

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

// resultPoll is how often a waiting result request looks at the job again.
const resultPoll = 100 * time.Millisecond

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

func (l *GetJobResultLogic) GetJobResult(req *types.JobResultReq) (*types.JobResult, error) {
	wait, err := jobview.ParseWait(req.Wait)
	if err != nil {
		return nil, err
	}
	job, err := FindJob(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(resultPoll)
	defer poll.Stop()
	for !model.IsTerminal(job.Status) {
		select {
		case <-deadline.C:
			return jobview.Result(job), nil
		case <-l.ctx.Done():
			return nil, l.ctx.Err()
		case <-poll.C:
		}
		if job, err = l.svcCtx.Jobs.FindOne(l.ctx, req.Id); err != nil {
			return nil, err
		}
	}
	return jobview.Result(job), nil
}
