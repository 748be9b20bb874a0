package jobs

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
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
	job, err := FindJob(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	return jobview.Detail(job), nil
}

// FindJob validates id and loads the job if it belongs to the caller's tenant. A missing
// job and another tenant's job are the same 404, so ids of other tenants reveal nothing.
func FindJob(ctx context.Context, jobs model.JobsModel, id string) (*model.Jobs, error) {
	tenant, err := auth.Tenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := jobview.ParseID(id); err != nil {
		return nil, err
	}
	job, err := jobs.FindOneInTenant(ctx, tenant, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "job %s not found", id)
	}
	return job, err
}
