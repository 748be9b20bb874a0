// Code scaffolded by goctl. Safe to edit.
// goctl {{.version}}

package {{.PkgName}}

import (
	"context"
	"net/http"

	{{if .HasRequest}}"github.com/zeromicro/go-zero/rest/httpx"
	{{end}}"jobs/internal/sse"
	"jobs/internal/web"
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

		{{end}}sse.Serve(w, r, func(ctx context.Context, stream *sse.Stream) (sse.Source, error) {
			l := {{.LogicName}}.New{{.LogicType}}(ctx, svcCtx)
			return l.{{.Call}}({{if .HasRequest}}&req, {{end}}stream)
		})
	}
}
