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

// Start the schedule's job now
func TriggerScheduleHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.ScheduleIdReq
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := schedules.NewTriggerScheduleLogic(r.Context(), svcCtx)
		resp, err := l.TriggerSchedule(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
