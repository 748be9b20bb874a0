package ui_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/config"
	"jobs/internal/ui"
)

func serve(t *testing.T, cfg ui.Config, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	ui.Handler(cfg, api).ServeHTTP(rec, req)
	return rec
}

func TestHandlerServesThePageAndPassesTheRestToTheAPI(t *testing.T) {
	t.Parallel()
	cfg := ui.Config{}
	page := serve(t, cfg, http.MethodGet, "/", nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `<script type="module" src="/ui/js/main.js">`) ||
		page.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s %q", page.Code, page.Header().Get("Content-Type"), page.Body.String())
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	js := serve(t, cfg, http.MethodGet, "/ui/js/main.js", nil)
	if js.Code != http.StatusOK || js.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("GET main.js: %d %s", js.Code, js.Header().Get("Content-Type"))
	}
	// Unchanged files are revalidated, not sent again.
	again := serve(t, cfg, http.MethodGet, "/ui/js/main.js", http.Header{"If-None-Match": {js.Header().Get("ETag")}})
	if again.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d", again.Code)
	}
	if missing := serve(t, cfg, http.MethodGet, "/ui/nope.js", nil); missing.Code != http.StatusNotFound ||
		!strings.Contains(missing.Body.String(), `"code":404`) {
		t.Errorf("unknown file: %d %s", missing.Code, missing.Body.String())
	}
	if post := serve(t, cfg, http.MethodPost, "/", nil); post.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", post.Code)
	}
	if api := serve(t, cfg, http.MethodGet, "/api/v1/jobs", nil); api.Code != http.StatusTeapot {
		t.Errorf("the API's path went elsewhere: %d", api.Code)
	}
}

func TestDevTokensOnlyWithTheDevelopmentSecret(t *testing.T) {
	t.Parallel()
	if off := serve(t, ui.Config{}, http.MethodPost, "/ui/dev-token", nil); off.Code != http.StatusNotFound {
		t.Fatalf("without the development secret: %d %s", off.Code, off.Body.String())
	}
	cfg := ui.Config{DevTokens: true, Secret: config.DevAccessSecret, TTL: time.Hour}
	if info := serve(t, cfg, http.MethodGet, "/ui/dev-token", nil); info.Code != http.StatusOK || strings.Contains(info.Body.String(), "token\"") {
		t.Fatalf("GET: %d %s", info.Code, info.Body.String())
	}
	rec := serve(t, cfg, http.MethodPost, "/ui/dev-token", nil)
	var env struct {
		Data struct{ Token, Tenant, Actor string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body.String())
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(env.Data.Token, claims, func(*jwt.Token) (any, error) { return []byte(config.DevAccessSecret), nil }); err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	if claims["tenant"] != ui.DevIdentity.Tenant || claims["actor"] != ui.DevIdentity.Actor || env.Data.Tenant != "t1" {
		t.Errorf("claims %v, answer %+v", claims, env.Data)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
}

// The development secret the dashboard recognizes is the one that ships.
func TestDevAccessSecretIsTheDefault(t *testing.T) {
	t.Parallel()
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	if !c.DevAuth() {
		t.Fatalf("the default Auth.AccessSecret %q is not config.DevAccessSecret", c.Auth.AccessSecret)
	}
}
