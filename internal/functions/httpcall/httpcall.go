// Package httpcall runs HTTP functions: it POSTs the job to a configured URL (README,
// "HTTP functions").
package httpcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/text"
)

// maxHTTPResult bounds the body of an HTTP function's response: what is read of it, and
// a 2xx answer's result.
const maxHTTPResult = functions.MaxResultBytes

// New checks a function's HTTP keys and returns its runner; errors name the key.
func New(hc config.HTTPConf) (*Runner, error) {
	if hc.URL == "" {
		return nil, fmt.Errorf("HTTP.URL is required")
	}
	u, err := url.Parse(hc.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("HTTP.URL %q must be an absolute http or https URL", hc.URL)
	}
	for k, v := range hc.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("HTTP.Headers %q is not a valid header", k)
		}
	}
	return &Runner{url: hc.URL, shown: withoutSecrets(u), headers: hc.Headers, client: &http.Client{
		// A redirect would turn the POST into something else; answer with what we got.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Runner POSTs the job to a configured URL; see HTTPConf in internal/config.
type Runner struct {
	url string
	// shown is the URL as errors name it, which whoever started the job reads.
	shown   string
	headers map[string]string
	client  *http.Client
}

// withoutSecrets is u without what may be a secret of the operator's: a password, the query
// (a key such as Azure Functions' ?code=, a signed URL's signature) and the fragment.
func withoutSecrets(u *url.URL) string {
	shown := *u
	shown.User, shown.RawQuery, shown.ForceQuery, shown.Fragment, shown.RawFragment = nil, "", false, "", ""
	return shown.String()
}

// Run POSTs {"id", "functionId", "attempt", "params"}. A 2xx answer's JSON body is the
// result (an empty body is null). 408, 429 and 5xx answers, connection errors and
// timeouts are retried; other answers fail the job at once.
func (h *Runner) Run(ctx context.Context, functionID string, call functions.Call) (any, error) {
	body, err := json.Marshal(map[string]any{"id": call.JobID, "functionId": functionID, "attempt": call.Attempt, "params": call.Params})
	if err != nil {
		return nil, functions.Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, functions.Permanent(err)
	}
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// The attempt's trace (jobs.run) continues in the called service; nothing when not traced.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("POST %s: %v", h.shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResult+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("POST %s: reading the response: %v", h.shown, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if len(data) > maxHTTPResult {
			return nil, functions.Permanent(fmt.Errorf("POST %s: response body is over the limit of %d bytes", h.shown, maxHTTPResult))
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, nil
		}
		if !json.Valid(data) {
			return nil, functions.Permanent(fmt.Errorf("POST %s: HTTP %d with a body that is not JSON: %q", h.shown, code, bodyStart(data)))
		}
		return json.RawMessage(data), nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return nil, fmt.Errorf("POST %s: HTTP %d%s", h.shown, code, snippet(data))
	default:
		what := snippet(data)
		if loc, err := resp.Location(); code >= 300 && code < 400 && err == nil {
			what = ", a redirect to " + text.Truncate(withoutSecrets(loc), 500) + " (not followed)"
		}
		return nil, functions.Permanent(fmt.Errorf("POST %s: HTTP %d%s", h.shown, code, what))
	}
}

// bodyStart is the start of a response body, for an error message.
func bodyStart(data []byte) string {
	return strings.TrimSpace(text.Truncate(string(data), 500))
}

// snippet is ": " and bodyStart, or nothing for an empty body.
func snippet(data []byte) string {
	if s := bodyStart(data); s != "" {
		return ": " + s
	}
	return ""
}

// unwrapURLError drops the "Post "url":" prefix net/http adds, which the caller adds itself.
func unwrapURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}
