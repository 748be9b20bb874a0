// Package ui serves the web dashboard: static files embedded in the binary at / and /ui/...,
// and, on a development config only, the route that hands the page a development token.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/jobview"
)

//go:embed static
var static embed.FS

// DevIdentity is who a development token speaks for: the tenant of the README's walkthrough,
// so the jobs started there show on the page.
var DevIdentity = auth.Identity{Tenant: "t1", Actor: "dashboard"}

// Config says how the dashboard signs in.
type Config struct {
	// DevTokens enables POST /ui/dev-token: true only while Auth.AccessSecret is the
	// development secret that ships with the service, so anyone could mint tokens anyway.
	DevTokens bool
	// Secret and TTL sign development tokens.
	Secret string
	TTL    time.Duration
}

// Handler serves the dashboard at / and /ui/... and passes every other request to api.
// It sits in front of the API's router: the page's files need no token, and the page's own
// API calls carry the one it was given.
func Handler(cfg Config, api http.Handler) http.Handler {
	files := mustLoad()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ui/dev-token":
			serveDevToken(cfg, w, r)
		case r.URL.Path == "/" || r.URL.Path == "/ui" || r.URL.Path == "/ui/":
			files.serve(w, r, "index.html")
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			files.serve(w, r, strings.TrimPrefix(r.URL.Path, "/ui/"))
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// file is one embedded file with what its responses need.
type file struct {
	content     []byte
	contentType string
	etag        string
}

type fileSet map[string]file

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

func mustLoad() fileSet {
	files := fileSet{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(content)
		files[strings.TrimPrefix(p, "static/")] = file{content: content, contentType: contentTypes[path.Ext(p)],
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // the files are compiled in: a failure here is a build defect
	}
	return files
}

// securityHeaders keep the page to its own origin: scripts, styles and connections go to
// the service only (no CDN, no fonts from elsewhere), and no other site may frame it.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (files fileSet) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := files[name]
	if !ok {
		apperr.Write(w, http.StatusNotFound, "no dashboard file "+r.URL.Path, nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		apperr.Write(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path, nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	// Revalidated on every load (a 304 while unchanged), so a new binary's files are used at once.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
}

// devToken is what POST /ui/dev-token answers (GET tells the page whether it may ask).
type devToken struct {
	Token     string `json:"token,omitempty"`
	Tenant    string `json:"tenant"`
	Actor     string `json:"actor"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// serveDevToken answers GET (is a development token available, and for whom) and POST (mint
// one). Without the development secret the route does not exist: 404, like any unknown path.
func serveDevToken(cfg Config, w http.ResponseWriter, r *http.Request) {
	if !cfg.DevTokens {
		apperr.Write(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path, nil)
		return
	}
	answer := devToken{Tenant: DevIdentity.Tenant, Actor: DevIdentity.Actor}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		token, err := auth.Mint(cfg.Secret, DevIdentity, cfg.TTL)
		if err != nil {
			apperr.Write(w, http.StatusInternalServerError, "cannot mint a development token: "+err.Error(), nil)
			return
		}
		answer.Token = token
		answer.ExpiresAt = time.Now().Add(cfg.TTL).UTC().Format(jobview.TimeFormat)
	default:
		apperr.Write(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path, nil)
		return
	}
	// The token must not be kept by any cache.
	w.Header().Set("Cache-Control", "no-store")
	apperr.Write(w, http.StatusOK, "ok", answer)
}
