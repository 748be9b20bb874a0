package events

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobquery"
	"jobs/internal/stream"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
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

// StreamEvents returns the stream of the events of the tenant the caller may see, by the
// lists' rule (jobquery.Scope): the token's, or for an admin token the one tenant_id names
// (see stream.Tenant), or without it every tenant's live feed (stream.AllTenants). Its first
// Continue sends the first events.
func (l *StreamEventsLogic) StreamEvents(req *types.StreamEventsReq, out stream.Client) (*stream.Stream, error) {
	scope := model.JobFilter{Tenant: req.TenantId}
	if err := jobquery.Scope(l.ctx, &scope, "tenant_id"); err != nil {
		return nil, err
	}
	if scope.AllTenants {
		return stream.AllTenants(l.svcCtx.TenantHub, req.LastEventId, out)
	}
	return stream.Tenant(l.svcCtx.Events, l.svcCtx.TenantHub, scope.Tenant, req.LastEventId, out)
}
