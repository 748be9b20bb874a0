package jobs

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type ListJobsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// List jobs, newest first
func NewListJobsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ListJobsLogic {
	return &ListJobsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ListJobsLogic) ListJobs(req *types.ListJobsReq) (*types.ListJobsResp, error) {
	f, err := jobview.ParseListQuery(req, l.svcCtx.Config.Limits.MaxPageSize)
	if err != nil {
		return nil, err
	}
	page, total, err := jobquery.Page(l.ctx, l.svcCtx.Jobs, f, false, l.svcCtx.Config.Limits.ExactTotalUpTo)
	if err != nil {
		return nil, err
	}
	return &types.ListJobsResp{Jobs: jobview.Items(page), Total: total.N, TotalIsEstimate: !total.Exact, Page: f.Page, Size: f.Size}, nil
}
