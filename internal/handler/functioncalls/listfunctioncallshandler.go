// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package functioncalls

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"
	"jobs/internal/logic/functioncalls"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/internal/web"
)

// Function-call history: a read-only view over jobs
func ListFunctionCallsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.ListJobsReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := functioncalls.NewListFunctionCallsLogic(r.Context(), svcCtx)
		resp, err := l.ListFunctionCalls(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
