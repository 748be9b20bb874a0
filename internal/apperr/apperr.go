// Package apperr defines the service's typed errors and the single place that maps
// any error to an HTTP status and the API.md envelope.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

const (
	Internal Kind = iota
	InvalidArgument
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	TooLarge
	Unavailable
	NotImplemented
)

var statusOf = map[Kind]int{
	Internal:        http.StatusInternalServerError,
	InvalidArgument: http.StatusBadRequest,
	Unauthenticated: http.StatusUnauthorized,
	Forbidden:       http.StatusForbidden,
	NotFound:        http.StatusNotFound,
	Conflict:        http.StatusConflict,
	TooLarge:        http.StatusRequestEntityTooLarge,
	Unavailable:     http.StatusServiceUnavailable,
	NotImplemented:  http.StatusNotImplemented,
}

// Error is an error with a Kind and a message fit to show to the caller.
type Error struct {
	Kind    Kind
	Message string
	Err     error // the cause, logged but never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of the given kind whose message is shown to the caller as is.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of the given kind that keeps err as its (unshown) cause.
func Wrap(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: err}
}

// Outage returns err, an error of a dependency (mysql, redis) that could not serve, as an
// Unavailable error whose message names it: "mysql unavailable". The clients of each
// dependency type their errors this way where they are made (model, queue), so that one
// mapping answers every route with a 503 naming what failed.
func Outage(dependency string, err error) *Error {
	return &Error{Kind: Unavailable, Message: dependency + " unavailable", Err: err}
}

// IsConnectionFailure reports whether err says a server could not be reached, dropped the
// connection or did not answer in time: a network error (refused, reset, timed out; a
// context deadline counts too), or a connection closed mid-answer.
func IsConnectionFailure(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// Invalid is shorthand for an InvalidArgument error.
func Invalid(format string, args ...any) *Error { return New(InvalidArgument, format, args...) }

// KindOf returns the kind of err, Internal for errors that carry none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Envelope is the body of every response but the job list (API.md, Conventions).
type Envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// Write answers w with status and an envelope of message and data: the one writer of
// envelopes outside go-zero's error handler (Response) and OK handler. The code is 0 for a 200,
// else the status.
func Write(w http.ResponseWriter, status int, message string, data any) {
	code := status
	if status == http.StatusOK {
		code = 0
	}
	httpx.WriteJson(w, status, Envelope{Code: code, Message: message, Data: data})
}

// Response maps err to its status and envelope. It is installed once with
// httpx.SetErrorHandlerCtx; an error without a Kind is a 500 whose cause is logged, not shown.
func Response(ctx context.Context, err error) (int, any) {
	var e *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &tooLarge):
		e = New(TooLarge, "request body is larger than the limit of %d bytes", tooLarge.Limit)
	case errors.Is(err, context.DeadlineExceeded):
		e = Wrap(Unavailable, err, "request timed out")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this response.
		e = Wrap(Unavailable, err, "request cancelled")
	default:
		e = Wrap(Internal, err, "internal error")
	}
	status := statusOf[e.Kind]
	if status >= http.StatusInternalServerError {
		logx.WithContext(ctx).Errorf("request failed with %d: %v", status, err)
	}
	return status, Envelope{Code: status, Message: e.Message}
}
