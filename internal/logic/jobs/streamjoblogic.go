package jobs

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type StreamJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Live progress as Server-Sent Events
func NewStreamJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *StreamJobLogic {
	return &StreamJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// StreamJob validates the job, then reports that streaming is not available yet.
func (l *StreamJobLogic) StreamJob(req *types.StreamJobReq, client chan<- *types.StreamEvent) error {
	if _, err := FindJob(l.ctx, l.svcCtx.Jobs, req.JobId); err != nil {
		return err
	}
	return apperr.New(apperr.NotImplemented, "streaming job progress is not implemented yet; poll GET /api/v1/jobs/%s", req.JobId)
}
