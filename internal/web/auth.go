package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v4"
	"github.com/golang-jwt/jwt/v4/request"
	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/apperr"
)

// QueryTokenParam is the query parameter that carries the token on the stream routes, for
// browsers' EventSource, which cannot set headers.
const QueryTokenParam = "access_token"

// unauthorized answers a request go-zero's JWT middleware rejected with a 401 envelope.
func unauthorized(w http.ResponseWriter, _ *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="jobs"`)
	httpx.WriteJson(w, http.StatusUnauthorized, apperr.Envelope{Code: http.StatusUnauthorized, Message: describeTokenError(err)})
}

func describeTokenError(err error) string {
	var invalid *jwt.ValidationError
	switch {
	case errors.Is(err, request.ErrNoTokenInRequest):
		return "missing access token: send Authorization: Bearer <token> (mint one with: jobs token -tenant <tenant>)"
	case errors.As(err, &invalid) && invalid.Errors&jwt.ValidationErrorExpired != 0:
		return "the access token has expired"
	case errors.As(err, &invalid) && invalid.Errors&jwt.ValidationErrorMalformed != 0:
		return "the access token is malformed"
	}
	return "the access token is not valid"
}

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
// the JWT middleware looks; the parameter is removed so that request logs do not hold it.
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
