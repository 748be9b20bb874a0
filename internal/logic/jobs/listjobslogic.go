package jobs

import (
	"cmp"
	"context"
	"sync"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
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
	page, total, err := ListPage(l.ctx, l.svcCtx, f, false)
	if err != nil {
		return nil, err
	}
	return &types.ListJobsResp{Jobs: jobview.Items(page), Total: total.N, TotalIsEstimate: !total.Exact, Page: f.Page, Size: f.Size}, nil
}

// Total is a list's count of matches: exact, or a lower bound (Limits.ExactTotalUpTo).
type Total struct {
	N     int64
	Exact bool
}

// ListPage reads one page of the jobs the caller may see (ScopeFilter) and the total count
// of matches concurrently. Both reads end before it returns, failed or not (go-zero's mr.Finish returns
// at the first error while the other read still writes its result).
func ListPage(ctx context.Context, svcCtx *svc.ServiceContext, f model.JobFilter, withResult bool) ([]*model.Jobs, Total, error) {
	var total Total
	if err := ScopeFilter(ctx, &f, "tenant_id"); err != nil {
		return nil, total, err
	}
	var page []*model.Jobs
	var listErr error
	var wg sync.WaitGroup
	wg.Go(func() { page, listErr = svcCtx.Jobs.List(ctx, f, withResult) })
	var countErr error
	total.N, total.Exact, countErr = svcCtx.Jobs.Count(ctx, f, svcCtx.Config.Limits.ExactTotalUpTo)
	wg.Wait()
	return page, total, cmp.Or(listErr, countErr)
}
