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

// A schedule with its next run times and last jobs
func GetScheduleHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.ScheduleIdReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := schedules.NewGetScheduleLogic(r.Context(), svcCtx)
		resp, err := l.GetSchedule(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
