// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package jobs

import (
	"context"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"
	"jobs/internal/logic/jobs"
	"jobs/internal/sse"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/internal/web"
)

// Live progress as Server-Sent Events
func StreamJobHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.StreamJobReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		sse.Serve(w, r, func(ctx context.Context, stream *sse.Stream) (sse.Source, error) {
			l := jobs.NewStreamJobLogic(ctx, svcCtx)
			return l.StreamJob(&req, stream)
		})
	}
}
