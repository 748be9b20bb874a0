package web

import (
	"net/http"
	"strings"

	"github.com/zeromicro/go-zero/rest/httpx"
)

// QueryTokenParam is the query parameter that carries the token on the stream routes, for
// browsers' EventSource, which cannot set headers.
const QueryTokenParam = "access_token"

// isStreamPath reports whether path is an event stream: /api/v1/jobs/:jobId/stream or
// /api/v1/events.
func isStreamPath(path string) bool {
	if path == "/api/v1/events" {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/api/v1/jobs/")
	if !ok {
		return false
	}
	id, ok := strings.CutSuffix(rest, "/stream")
	return ok && id != "" && !strings.Contains(id, "/")
}

// queryTokenRouter lets the stream routes take their token from the access_token query
// parameter. It sits in front of go-zero's router, so the token is a header by the time
// the Authenticate middleware looks; the parameter is removed so that request logs do not
// hold it.
// Other routes take the header only: tokens in URLs end up in logs and browser history.
type queryTokenRouter struct {
	httpx.Router
}

func (q queryTokenRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && isStreamPath(r.URL.Path) && r.URL.Query().Has(QueryTokenParam) {
		query := r.URL.Query()
		token := query.Get(QueryTokenParam)
		query.Del(QueryTokenParam)
		r = r.Clone(r.Context())
		r.URL.RawQuery = query.Encode()
		r.RequestURI = r.URL.RequestURI()
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	q.Router.ServeHTTP(w, r)
}
