package jobs

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type GetJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Job detail with result
func NewGetJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetJobLogic {
	return &GetJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *GetJobLogic) GetJob(req *types.JobIdReq) (*types.JobDetail, error) {
	job, err := jobquery.Find(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	return jobview.Detail(job), nil
}
