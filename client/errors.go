package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an answer other than 200 from the service.
type Error struct {
	// Status is the HTTP status (the envelope's code).
	Status int
	// Message is the server's one sentence on what was wrong, naming the field or id; for
	// a body that is not an envelope (a proxy's, say), the start of the body or the status text.
	Message string
	// RetryAfter is the server's Retry-After on a 503 or 429 (0 without one): how long to
	// wait before trying again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// Is makes errors.Is(err, ErrNotFound) and the other sentinels match an *Error of that status.
func (e *Error) Is(target error) bool {
	s, ok := target.(statusSentinel)
	return ok && int(s) == e.Status
}

// statusSentinel is an error that stands for every *Error of one status.
type statusSentinel int

func (s statusSentinel) Error() string {
	return fmt.Sprintf("jobs API: %d %s", int(s), http.StatusText(int(s)))
}

// Sentinels for errors.Is, one per status the API answers a caller's mistake or an outage with.
var (
	// ErrBadRequest: a malformed id, an unknown function, a bad filter or field (400).
	ErrBadRequest error = statusSentinel(http.StatusBadRequest)
	// ErrUnauthorized: the token is missing, expired or not valid (401).
	ErrUnauthorized error = statusSentinel(http.StatusUnauthorized)
	// ErrNotFound: no such job for the caller's tenant (404).
	ErrNotFound error = statusSentinel(http.StatusNotFound)
	// ErrConflict: the job is already terminal, so it cannot be cancelled (409).
	ErrConflict error = statusSentinel(http.StatusConflict)
	// ErrTooLarge: the request body or its params are over the service's limit (413).
	ErrTooLarge error = statusSentinel(http.StatusRequestEntityTooLarge)
	// ErrUnavailable: the service or one of its dependencies cannot answer now (503); see
	// Error.RetryAfter.
	ErrUnavailable error = statusSentinel(http.StatusServiceUnavailable)
)

// noAnswer is a request that got no whole answer: its connection was refused, cut or timed
// out. It wraps the transport's error.
type noAnswer struct{ err error }

func (e *noAnswer) Error() string { return e.err.Error() }
func (e *noAnswer) Unwrap() error { return e.err }

// transient reports whether err may pass if the request is sent again: it got no answer, or
// one saying the service cannot answer now (5xx, 408, 429). Other 4xx are the request's own.
func transient(err error) bool {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500 || apiErr.Status == http.StatusRequestTimeout || apiErr.Status == http.StatusTooManyRequests
	}
	var none *noAnswer
	return errors.As(err, &none)
}

// responseError turns a non-200 answer into an *Error.
func responseError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var env envelope
	if err := json.Unmarshal(body, &env); err == nil && env.Code != nil && env.Message != "" {
		e.Message = env.Message
		return e
	}
	if text := strings.TrimSpace(string(body)); text != "" && len(text) <= 200 {
		e.Message = text
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date; 0 if absent or bad.
func retryAfter(header string, now time.Time) time.Duration {
	if header == "" {
		return 0
	}
	if secs, err := strconv.Atoi(header); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(header); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}
