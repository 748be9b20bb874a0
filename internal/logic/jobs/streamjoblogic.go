package jobs

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/stream"
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

// StreamJob returns the caller's stream of the job's events (see stream.Job); its first
// Continue, with the request's context, sends the first events.
func (l *StreamJobLogic) StreamJob(req *types.StreamJobReq, out stream.Client) (*stream.Stream, error) {
	return stream.Job(stream.JobDeps{Bus: l.svcCtx.Events, Hub: l.svcCtx.Hub, Jobs: l.svcCtx.Jobs,
		LogTail: l.svcCtx.Config.Worker.LogTail}, req.JobId, req.LastEventId, out)
}
