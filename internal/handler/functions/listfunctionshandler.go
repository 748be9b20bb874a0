// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package functions

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/logic/functions"
	"jobs/internal/svc"
)

// Registered functions
func ListFunctionsHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := functions.NewListFunctionsLogic(r.Context(), svcCtx)
		resp, err := l.ListFunctions()
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
