// Package apptest runs a whole jobs process inside a test: a config on the test's own
// database and Redis prefix, an app serving HTTP on a real listener, and helpers to call its
// API and open its event streams as a user would.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/app"
	"jobs/internal/auth"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/testutil"
)

// Config returns a config on a fresh database and key prefix, with timings short enough
// for tests; mutate adjusts it further.
func Config(t testing.TB, mutate ...func(*config.Config)) config.Config {
	t.Helper()
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	c.Name = "jobs-test"
	c.Host = "127.0.0.1"
	c.Log.Mode = "console"
	c.Log.Level = "error"
	c.Log.Stat = false
	// go-zero's CPU load shedding is off, as in the shipped config: on a busy machine it
	// would answer tests' requests with 503s (the database's CPU counts too).
	c.CpuThreshold = 0
	// go-zero's dev server (metrics, pprof) would listen on :6060 in every test process;
	// the metrics tests turn it on, on a free port.
	c.DevServer.Enabled = false
	// A generous request timeout: with -race on a busy machine a megabyte body can take
	// seconds to parse and store. Tests of the timeout set their own.
	c.Timeout = 10000
	c.MySQL.DataSource = testutil.NewDB(t)
	c.MySQL.Migrate = false
	c.MySQL.MaxOpenConns = 8
	c.Redis.Addr = testutil.RedisAddr()
	c.Redis.Prefix = testutil.RedisPrefix(t)
	c.Worker.Concurrency = 8
	c.Worker.Heartbeat = 200 * time.Millisecond
	c.Worker.Lease = time.Second
	c.Worker.ProgressFlush = 50 * time.Millisecond
	c.Worker.ClaimIdle = time.Second
	c.Worker.ShutdownGrace = 2 * time.Second
	c.Recovery.Interval = 200 * time.Millisecond
	c.Recovery.DueInterval = 50 * time.Millisecond
	c.Retry.Backoff = 20 * time.Millisecond
	c.Retry.MaxBackoff = 200 * time.Millisecond
	c.Callbacks.Interval = 50 * time.Millisecond
	c.Callbacks.Backoff = 50 * time.Millisecond
	c.Callbacks.MaxBackoff = 200 * time.Millisecond
	c.Callbacks.Timeout = 2 * time.Second
	c.Scheduler.Interval = 50 * time.Millisecond
	for _, m := range mutate {
		m(&c)
	}
	return c
}

// The identity the test harness's requests carry unless a test asks for another.
const (
	DefaultTenant = "tenant-a"
	DefaultActor  = "tester"
)

// App is a running jobs process inside the test, serving HTTP on a real listener. Its
// requests carry a token for DefaultTenant; As and WithToken give views that send others.
type App struct {
	*app.App
	URL    string // base URL, e.g. http://127.0.0.1:41234
	t      testing.TB
	token  string       // sent as "Authorization: Bearer <token>" unless empty
	client *http.Client // http.DefaultClient if nil
}

// Token mints a token for tenant and actor, valid for ttl, with the app's secret.
func (a *App) Token(tenant, actor string, ttl time.Duration) string {
	a.t.Helper()
	token, err := auth.Mint(a.Config.Auth.AccessSecret, auth.Identity{Tenant: tenant, Actor: actor}, ttl)
	if err != nil {
		a.t.Fatal(err)
	}
	return token
}

// AsAdmin returns a view of the app whose requests carry an operator token (role admin)
// of tenant and actor.
func (a *App) AsAdmin(tenant, actor string) *App {
	a.t.Helper()
	token, err := auth.Mint(a.Config.Auth.AccessSecret, auth.Identity{Tenant: tenant, Actor: actor, Admin: true}, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.WithToken(token)
}

// As returns a view of the app whose requests act as tenant and actor.
func (a *App) As(tenant, actor string) *App {
	return a.WithToken(a.Token(tenant, actor, time.Hour))
}

// WithToken returns a view of the app whose requests carry token ("" sends none).
func (a *App) WithToken(token string) *App {
	view := *a
	view.token = token
	return &view
}

// StartApp builds and starts an app for c with the built-in functions plus extra; it is
// stopped when the test ends.
func StartApp(t testing.TB, c config.Config, extra ...*functions.Definition) *App {
	t.Helper()
	ctx := context.Background()
	a, err := app.New(ctx, c, extra...)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.StartBackground(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	ta := &App{App: a, t: t}
	testutil.NameLogsOnFailure(t)
	if c.Runs("api") {
		ta.token = ta.Token(DefaultTenant, DefaultActor, time.Hour)
	}
	var srv *httptest.Server
	if c.Runs("api") {
		h, err := a.Handler()
		if err != nil {
			t.Fatal(err)
		}
		srv = httptest.NewServer(h)
		ta.URL = srv.URL
	}
	t.Cleanup(func() {
		if srv != nil {
			srv.Close()
		}
		a.Stop(context.Background())
	})
	return ta
}

// OverTLS returns a view of the app whose requests go over TLS, with HTTP/2 if http2, to a
// server of their own serving the same handler; it is closed when the test ends.
func (a *App) OverTLS(http2 bool) *App {
	a.t.Helper()
	h, err := a.Handler()
	if err != nil {
		a.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = http2
	srv.StartTLS()
	a.t.Cleanup(srv.Close)
	view := *a
	view.URL, view.client = srv.URL, srv.Client()
	return &view
}

func (a *App) httpClient() *http.Client {
	if a.client != nil {
		return a.client
	}
	return http.DefaultClient
}

// Client returns an App that only talks to the API at url (a process of its own, say, on
// config c), acting as DefaultTenant.
func Client(t testing.TB, url string, c config.Config) *App {
	t.Helper()
	token, err := auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: DefaultTenant, Actor: DefaultActor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &App{URL: url, t: t, token: token}
}

// BearerToken is the token the app's requests carry ("" for none).
func (a *App) BearerToken() string { return a.token }

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Envelope decodes the API.md envelope; data is left raw.
func (r Response) Envelope(t testing.TB) (code int, message string, data json.RawMessage) {
	t.Helper()
	var env struct {
		Code    *int            `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil || env.Code == nil {
		t.Fatalf("response %d is not an envelope: %s", r.Status, r.Body)
	}
	return *env.Code, env.Message, env.Data
}

// Data decodes the envelope's data into v, failing the test unless the call succeeded.
func (r Response) Data(t testing.TB, v any) {
	t.Helper()
	code, msg, data := r.Envelope(t)
	if r.Status != http.StatusOK || code != 0 {
		t.Fatalf("want 200 code 0, got %d code %d: %s", r.Status, code, msg)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("decode data %s: %v", data, err)
		}
	}
}

// Do sends a request to the app with its token; body, if not nil and not []byte or string,
// is JSON-encoded.
func (a *App) Do(method, path string, body any) Response {
	a.t.Helper()
	return a.DoWith(method, path, body, nil)
}

// doDeadline bounds one Do, its body read included; far above any answer on a loaded machine.
const doDeadline = time.Minute

// DoWith is Do with extra request headers.
func (a *App) DoWith(method, path string, body any, header http.Header) Response {
	a.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		reader = bytes.NewReader(encoded)
	}
	// A route that should answer but streams or hangs fails the test, not go test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), doDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, reader)
	if err != nil {
		a.t.Fatal(err)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.httpClient().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// Job is the subset of JobItem tests look at, plus the result.
type Job struct {
	Id             string          `json:"id"`
	TenantId       string          `json:"tenantId"`
	FunctionId     string          `json:"functionId"`
	Name           string          `json:"name"`
	Status         string          `json:"status"`
	Params         json.RawMessage `json:"params"`
	Result         json.RawMessage `json:"result"`
	Error          string          `json:"error"`
	Progress       int64           `json:"progress"`
	Total          int64           `json:"total"`
	Message        string          `json:"message"`
	Actor          string          `json:"actor"`
	GameId         string          `json:"gameId"`
	Env            string          `json:"env"`
	Attempt        int64           `json:"attempt"`
	MaxAttempts    int64           `json:"maxAttempts"`
	TimeoutSeconds float64         `json:"timeoutSeconds"`
	CreatedAt      string          `json:"createdAt"`
	RunAt          *string         `json:"runAt"`
	StartedAt      *string         `json:"startedAt"`
	FinishedAt     *string         `json:"finishedAt"`
	LogTail        []LogLine       `json:"logTail"`
	CallbackUrl    string          `json:"callbackUrl"`
	RerunOf        string          `json:"rerunOf"`
	Callback       *Callback       `json:"callback"`
}

// Callback is a job's callback delivery state.
type Callback struct {
	Status        string  `json:"status"`
	Attempts      int64   `json:"attempts"`
	LastError     string  `json:"lastError"`
	NextAttemptAt *string `json:"nextAttemptAt"`
	DeliveredAt   *string `json:"deliveredAt"`
}

// LogLine is one kept output line of a job.
type LogLine struct {
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// StartJob starts a job through the API and returns it.
func (a *App) StartJob(body map[string]any) Job {
	a.t.Helper()
	var job Job
	a.Do(http.MethodPost, "/api/v1/jobs", body).Data(a.t, &job)
	return job
}

// GetJob reads a job through the API.
func (a *App) GetJob(id string) Job {
	a.t.Helper()
	var job Job
	a.Do(http.MethodGet, "/api/v1/jobs/"+id, nil).Data(a.t, &job)
	return job
}

// WaitJob polls the job until cond holds or timeout passes, and returns its last state.
func (a *App) WaitJob(id string, timeout time.Duration, what string, cond func(Job) bool) Job {
	a.t.Helper()
	var job Job
	ok := testutil.Eventually(timeout, func() bool {
		job = a.GetJob(id)
		return cond(job)
	})
	if !ok {
		a.t.Fatalf("job %s: not %s within %s; last state: %+v", id, what, timeout, job)
	}
	return job
}

// WaitStatus waits until the job has status.
func (a *App) WaitStatus(id, status string, timeout time.Duration) Job {
	a.t.Helper()
	return a.WaitJob(id, timeout, status, func(j Job) bool { return j.Status == status })
}
