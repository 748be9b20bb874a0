package web

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"jobs/internal/apperr"
)

// ReadBodyWithin wraps the whole router: it reads a request's body (at most limit+1 bytes;
// LimitBody rejects more) before routing, allowing timeout for it to arrive, then clears the
// read deadline. The server has no ReadTimeout, since one would also cut streams and result
// waits; without this, a client that stops sending its body would hold its connection.
func ReadBodyWithin(timeout time.Duration, limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			// The deadline stays expired: the server's drain of the unread body then fails
			// at once and the answer goes out, instead of waiting on the client.
			w.Header().Set("Connection", "close")
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				apperr.Write(w, http.StatusRequestTimeout, "request body not received within "+timeout.String(), nil)
				return
			}
			apperr.Write(w, http.StatusBadRequest, "cannot read request body", nil)
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), r.Body))
		next.ServeHTTP(w, r)
	})
}
