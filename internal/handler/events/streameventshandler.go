// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package events

import (
	"context"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"
	"jobs/internal/logic/events"
	"jobs/internal/sse"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/internal/web"
)

// The caller's tenant's job changes (status, progress) as Server-Sent Events
func StreamEventsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.StreamEventsReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		sse.Serve(w, r, func(ctx context.Context, stream *sse.Stream) (sse.Source, error) {
			l := events.NewStreamEventsLogic(ctx, svcCtx)
			return l.StreamEvents(&req, stream)
		})
	}
}
