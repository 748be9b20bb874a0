// Code scaffolded by goctl. Safe to edit.
// goctl {{.version}}

package {{.PkgName}}

import (
	"context"
	"net/http"

	{{if .HasRequest}}"github.com/zeromicro/go-zero/rest/httpx"
	{{end}}"jobs/internal/web"
	{{.ImportPackages}}
)

{{if .HasDoc}}{{.Doc}}{{end}}
func {{.HandlerName}}(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		{{if .HasRequest}}var req types.{{.RequestType}}
		if err := web.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		{{end}}web.ServeEvents(w, r, svcCtx.Config.Events.PingInterval, func(ctx context.Context, send func({{.ResponseType}}) error) error {
			l := {{.LogicName}}.New{{.LogicType}}(ctx, svcCtx)
			return l.{{.Call}}({{if .HasRequest}}&req, {{end}}send)
		})
	}
}
