// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package stats

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/logic/stats"
	"jobs/internal/svc"
)

// Overview numbers: jobs by status, finished per minute, pending backlog by function
func GetStatsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := stats.NewGetStatsLogic(r.Context(), svcCtx)
		resp, err := l.GetStats()
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
