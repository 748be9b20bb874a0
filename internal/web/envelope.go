package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"

	"jobs/internal/apperr"
)

// RetryAfterSeconds is the Retry-After every 503 carries: outages and overload are
// retried after a second.
const RetryAfterSeconds = 1

// maxHeldBody bounds the error body EnvelopeErrors holds back to check it; error
// envelopes are far smaller.
const maxHeldBody = 64 << 10

// EnvelopeErrors wraps the whole API, outside go-zero's router and middleware, so that
// every error leaves as the API.md envelope: go-zero's own middleware answers some
// requests with a status and no body (its load shedder and connection limit with 503, its
// gunzip with 400 for a body that is not gzip, its recover with 500), which it replaces with
// an envelope for the status. Every 503 also gets a Retry-After header (go-zero's error
// handler sets only a status and a body).
func EnvelopeErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ew := &envelopeWriter{ResponseWriter: w}
		next.ServeHTTP(ew, r)
		ew.finish(r)
	})
}

// envelopeWriter passes successful responses through and holds back error bodies until
// the handler returns.
type envelopeWriter struct {
	http.ResponseWriter
	status int  // 0 until the status is written
	held   bool // an error response whose body is held in body
	body   bytes.Buffer
}

func (e *envelopeWriter) WriteHeader(status int) {
	if e.status != 0 {
		return
	}
	e.status = status
	if status == http.StatusServiceUnavailable {
		e.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	if status >= http.StatusBadRequest {
		e.held = true
		return
	}
	e.ResponseWriter.WriteHeader(status)
}

func (e *envelopeWriter) Write(p []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if !e.held {
		return e.ResponseWriter.Write(p)
	}
	if e.body.Len()+len(p) <= maxHeldBody {
		return e.body.Write(p)
	}
	// Not an envelope, being this long: send what there is as it is.
	e.held = false
	e.ResponseWriter.WriteHeader(e.status)
	if _, err := e.ResponseWriter.Write(e.body.Bytes()); err != nil {
		return 0, err
	}
	return e.ResponseWriter.Write(p)
}

// finish sends a held error response: as it is if it is an envelope already, else as the
// envelope for its status.
func (e *envelopeWriter) finish(r *http.Request) {
	if !e.held {
		return
	}
	body := e.body.Bytes()
	if !isEnvelope(body) {
		body, _ = json.Marshal(envelopeFor(e.status, r))
		e.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	e.Header().Set("Content-Length", strconv.Itoa(len(body)))
	e.ResponseWriter.WriteHeader(e.status)
	_, _ = e.ResponseWriter.Write(body)
}

// Flush sends what is written so far, unless it is an error body being held.
func (e *envelopeWriter) Flush() {
	if !e.held {
		_ = http.NewResponseController(e.ResponseWriter).Flush()
	}
}

// Hijack hands over the connection (event streams take it).
func (e *envelopeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(e.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (e *envelopeWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func isEnvelope(body []byte) bool {
	var env struct {
		Code *int `json:"code"`
	}
	return json.Unmarshal(body, &env) == nil && env.Code != nil
}

// envelopeFor is the envelope of a bodiless error of go-zero's middleware.
func envelopeFor(status int, r *http.Request) apperr.Envelope {
	message := strings.ToLower(http.StatusText(status))
	switch {
	case status == http.StatusServiceUnavailable:
		message = "the server is overloaded; retry later"
	case status == http.StatusBadRequest && strings.Contains(r.Header.Get("Content-Encoding"), "gzip"):
		message = "request body is not valid gzip (Content-Encoding: gzip)"
	case status == http.StatusInternalServerError:
		message = "internal error"
	case message == "":
		message = "request failed"
	}
	return apperr.Envelope{Code: status, Message: message}
}
