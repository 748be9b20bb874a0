package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"jobs/internal/web"
)

func TestEnvelopeErrorsLeavesNoErrorWithoutAnEnvelope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
		body    string
	}{
		{"shed (empty 503)", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
			503, `{"code":503,"message":"the server is overloaded; retry later"}`},
		{"recovered panic (empty 500)", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
			500, `{"code":500,"message":"internal error"}`},
		{"plain text", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", http.StatusForbidden) },
			403, `{"code":403,"message":"forbidden"}`},
		{"an envelope already", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"code":503,"message":"mysql unavailable"}`)
		}, 503, `{"code":503,"message":"mysql unavailable"}`},
		{"success", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[1,2]") }, 200, "[1,2]"},
	} {
		rec := httptest.NewRecorder()
		web.EnvelopeErrors(tc.handler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/jobs", nil))
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("%s: %d %s, want %d %s", tc.name, rec.Code, rec.Body, tc.status, tc.body)
		}
		if retry := rec.Header().Get("Retry-After"); (tc.status == 503) != (retry == "1") {
			t.Errorf("%s: Retry-After %q", tc.name, retry)
		}
	}
}
