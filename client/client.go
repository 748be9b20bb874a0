// Package client is the Go client of the jobs service's HTTP API (shared/API.md and
// docs/API_EXTENSIONS.md): start, read, list, cancel and watch jobs from another Go service.
//
//	c, err := client.New("http://127.0.0.1:8888", token)
//	job, err := c.Start(ctx, client.StartRequest{FunctionID: "echo", Params: map[string]any{"k": "v"}})
//	res, err := c.Result(ctx, job.ID, 30*time.Second)
//
// Failed calls return a *Error carrying the server's status and message; match it with
// errors.Is(err, client.ErrNotFound) and the other sentinels.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiPrefix is where the service serves its API under the base URL.
const apiPrefix = "/api/v1"

// DefaultTimeout bounds each call but Watch (and Result's wait, which is added to it).
const DefaultTimeout = 30 * time.Second

// Client calls one jobs service with one token. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	http    *http.Client
	timeout time.Duration
	// watchIdle is the silence after which Watch takes a stream for dead; reconnectFor is
	// how long Watch's reconnects, and ListAll's reads of its next page, may fail before
	// they give up.
	watchIdle    time.Duration
	reconnectFor time.Duration
	// maxWait is the longest wait one result request asks for (the route's limit).
	maxWait time.Duration
}

// An Option adjusts a Client made by New.
type Option func(*Client)

// WithHTTPClient sends requests through hc (for its transport, TLS or proxy settings)
// instead of http.DefaultClient. Leave hc.Timeout zero: it would cut Watch's streams off.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithTimeout bounds each call but Watch to d (DefaultTimeout otherwise); Result's wait
// comes on top.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// New returns a client of the service at baseURL (e.g. http://127.0.0.1:8888; the API's
// /api/v1 prefix is added) that authenticates with token, a JWT as `jobs token` mints.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("jobs client: base URL %q must be an http:// or https:// URL with a host, such as http://127.0.0.1:8888", baseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawQuery, base.Fragment = "", ""
	c := &Client{base: base, token: token, http: http.DefaultClient, timeout: DefaultTimeout,
		watchIdle: defaultWatchIdle, reconnectFor: defaultReconnectFor, maxWait: maxResultWait}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// envelope is the body of every response but the job list (API.md, Conventions).
type envelope struct {
	Code    *int            `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call is one API request: path below /api/v1, an optional query and JSON body.
type call struct {
	method string
	path   string
	query  url.Values
	body   any
	// bare marks a response that is not an envelope (the job list).
	bare bool
	// extra is added to the client's timeout (Result's wait).
	extra time.Duration
}

// fetch sends the call and returns its answer's data as a T.
func fetch[T any](ctx context.Context, c *Client, cl call) (*T, error) {
	var v T
	if err := c.do(ctx, cl, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// do sends the call and decodes a successful answer's data into out.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout+cl.extra)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		encoded, err := json.Marshal(cl.body)
		if err != nil {
			return fmt.Errorf("jobs client: encode the request: %w", err)
		}
		body = bytes.NewReader(encoded)
	}
	req, err := c.newRequest(ctx, cl.method, cl.path, cl.query, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &noAnswer{fmt.Errorf("jobs client: %s %s: %w", cl.method, req.URL.Path, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return &noAnswer{fmt.Errorf("jobs client: %s %s: read the response: %w", cl.method, req.URL.Path, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return responseError(resp, raw)
	}
	if !cl.bare {
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil || env.Code == nil {
			return fmt.Errorf("jobs client: %s %s: the answer is not a JSON envelope: %.200s", cl.method, req.URL.Path, raw)
		}
		raw = env.Data
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("jobs client: %s %s: decode the answer: %w", cl.method, req.URL.Path, err)
	}
	return nil
}

// newRequest builds an authenticated request to path (escaped) below /api/v1.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := c.base.String() + apiPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("jobs client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// jobPath is the escaped path of a job below /api/v1, with sub ("cancel", say) if not empty.
func jobPath(id, sub string) string {
	p := "/jobs/" + url.PathEscape(id)
	if sub != "" {
		p += "/" + sub
	}
	return p
}
