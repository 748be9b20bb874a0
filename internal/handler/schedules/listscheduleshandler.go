// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package schedules

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"
	"jobs/internal/logic/schedules"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/internal/web"
)

// The tenant's schedules, by id
func ListSchedulesHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.ListSchedulesReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := schedules.NewListSchedulesLogic(r.Context(), svcCtx)
		resp, err := l.ListSchedules(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
