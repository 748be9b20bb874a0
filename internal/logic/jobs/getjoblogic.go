package jobs

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
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

// FindJob validates id and loads the job, mapping a missing row to a 404 naming it.
func FindJob(ctx context.Context, jobs model.JobsModel, id string) (*model.Jobs, error) {
	if err := jobview.ParseID(id); err != nil {
		return nil, err
	}
	job, err := jobs.FindOne(ctx, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "job %s not found", id)
	}
	return job, err
}
