package events

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/auth"
	"jobs/internal/stream"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type StreamEventsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The caller's tenant's job changes (status, progress) as Server-Sent Events
func NewStreamEventsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *StreamEventsLogic {
	return &StreamEventsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// StreamEvents returns the stream of the caller's tenant's events (see stream.Tenant); its
// first Continue sends the first events.
func (l *StreamEventsLogic) StreamEvents(req *types.StreamEventsReq, out stream.Client) (*stream.Stream, error) {
	tenant, err := auth.Tenant(l.ctx)
	if err != nil {
		return nil, err
	}
	return stream.Tenant(l.svcCtx.Events, l.svcCtx.TenantHub, tenant, req.LastEventId, out)
}
