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

// Cancel many jobs
func BulkCancelJobsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.BulkReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := jobs.NewBulkCancelJobsLogic(r.Context(), svcCtx)
		resp, err := l.BulkCancelJobs(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
