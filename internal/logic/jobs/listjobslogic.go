package jobs

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/mr"

	"jobs/internal/auth"
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
	f, err := jobview.ParseListQuery(req)
	if err != nil {
		return nil, err
	}
	page, total, err := ListPage(l.ctx, l.svcCtx.Jobs, f, false)
	if err != nil {
		return nil, err
	}
	return &types.ListJobsResp{Jobs: jobview.Items(page), Total: total, Page: f.Page, Size: f.Size}, nil
}

// ListPage reads one page of the caller's tenant's jobs and the total count of matches
// concurrently.
func ListPage(ctx context.Context, jobs model.JobsModel, f model.JobFilter, withResult bool) ([]*model.Jobs, int64, error) {
	tenant, err := auth.Tenant(ctx)
	if err != nil {
		return nil, 0, err
	}
	f.Tenant = tenant
	var page []*model.Jobs
	var total int64
	err = mr.Finish(func() (err error) {
		page, err = jobs.List(ctx, f, withResult)
		return err
	}, func() (err error) {
		total, err = jobs.Count(ctx, f)
		return err
	})
	return page, total, err
}
