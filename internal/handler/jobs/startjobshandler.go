// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package jobs

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"
	"jobs/internal/logic/jobs"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/internal/web"
)

// Start jobs in one transaction
func StartJobsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.StartJobsReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := jobs.NewStartJobsLogic(r.Context(), svcCtx)
		resp, err := l.StartJobs(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
