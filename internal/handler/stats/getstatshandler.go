// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package stats

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/logic/stats"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/internal/web"
)

// Overview numbers: jobs by status, finished per minute, pending backlog by function
func GetStatsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.StatsReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := stats.NewGetStatsLogic(r.Context(), svcCtx)
		resp, err := l.GetStats(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
