// Package openapi serves the API's OpenAPI document, which make gen builds from
// api/jobs.api (cmd/openapigen) and the binary embeds.
package openapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// Path is where the document is served. It needs no token: it describes the routes, which
// anyone can read in the repository, and holds nothing of any tenant.
const Path = "/api/v1/openapi.json"

// Document is the OpenAPI 3.0 document.
//
//go:embed openapi.json
var Document []byte

var etag = func() string {
	sum := sha256.Sum256(Document)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// Handler answers with the document; a client that has it already gets a 304 (ETag).
func Handler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("ETag", etag)
	// Revalidated on every use, so a new binary's document is seen at once.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(Document))
}
