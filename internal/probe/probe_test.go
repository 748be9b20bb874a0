package probe_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/app"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/probe"
	"jobs/internal/testutil"
)

type envelope struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
}

// get sends an unauthenticated GET and decodes the envelope.
func get(t *testing.T, url string) (int, envelope, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Code == nil {
		t.Fatalf("GET %s: %d, not an envelope: %q", url, resp.StatusCode, body)
	}
	return resp.StatusCode, env, time.Since(start)
}

// serve builds an API-only app for c (no background work: it may point at a dependency that
// is down) and serves it on a real listener.
func serve(t *testing.T, c config.Config) string {
	t.Helper()
	c.Role = "api"
	a, err := app.New(context.Background(), c)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	h, err := a.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		a.Stop(context.Background())
	})
	return srv.URL
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
}

func wantReady(t *testing.T, base string) {
	t.Helper()
	status, env, _ := get(t, base+probe.ReadyPath)
	if status != http.StatusOK || *env.Code != 0 || env.Message != "ok" {
		t.Fatalf("/readyz: want 200 code 0 ok, got %d %+v %q", status, *env.Code, env.Message)
	}
}

func wantAlive(t *testing.T, base string) {
	t.Helper()
	status, env, _ := get(t, base+probe.LivePath)
	if status != http.StatusOK || *env.Code != 0 {
		t.Fatalf("/healthz: want 200 code 0, got %d %d %q", status, *env.Code, env.Message)
	}
}

func TestReadyWithRealServicesNeedsNoToken(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	wantAlive(t, a.URL)
	wantReady(t, a.URL)
	// The API itself still wants its token: the probes opened nothing else.
	if r := a.WithToken("").Do("GET", "/api/v1/jobs", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/jobs without a token: want 401, got %d", r.Status)
	}
}

func TestReadyNamesWhatIsDown(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(t *testing.T, c *config.Config)
		want   string // the whole 503 message starts with it
		not    string // and does not name it
	}{
		{"redis on a closed port", func(t *testing.T, c *config.Config) { c.Redis.Addr = closedAddr(t) },
			"redis unavailable: ", "mysql"},
		{"mysql on a closed port", func(t *testing.T, c *config.Config) {
			c.MySQL.DataSource = "root:@tcp(" + closedAddr(t) + ")/jobs?timeout=1s"
		}, "mysql unavailable: ", "redis"},
		{"a database never migrated", func(t *testing.T, c *config.Config) {
			c.MySQL.DataSource = testutil.NewEmptyDB(t)
		}, "mysql unavailable: schema not migrated", "redis"},
		{"the latest migration missing", func(t *testing.T, c *config.Config) {
			db := testutil.DB(t, c.MySQL.DataSource)
			if _, err := db.Exec("DELETE FROM schema_migrations ORDER BY version DESC LIMIT 1"); err != nil {
				t.Fatal(err)
			}
		}, "mysql unavailable: migration ", "redis"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := apptest.Config(t)
			tc.mutate(t, &c)
			base := serve(t, c)
			status, env, took := get(t, base+probe.ReadyPath)
			if status != http.StatusServiceUnavailable || *env.Code != 503 || !strings.HasPrefix(env.Message, tc.want) ||
				strings.Contains(env.Message, tc.not) {
				t.Fatalf("/readyz: want 503 %q..., got %d %d %q", tc.want, status, *env.Code, env.Message)
			}
			if took > 3*time.Second {
				t.Errorf("/readyz took %v", took)
			}
			// Alive all the same: the process serves, a restart would not bring the dependency back.
			wantAlive(t, base)
		})
	}
}

// From the moment Stop begins, /readyz answers 503 "shutting down", checks passing or not:
// a load balancer stops sending requests here while the process finishes those in flight
// and its running jobs. /healthz stays 200 while the process serves.
func TestNotReadyOnceStopBegins(t *testing.T) {
	t.Parallel()
	running, release := make(chan struct{}), make(chan struct{})
	held := &functions.Definition{ID: "held", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		Run: func(context.Context, functions.Call, functions.Reporter) (any, error) {
			close(running)
			<-release
			return nil, nil
		}}
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.ShutdownGrace = time.Minute }), held)
	defer close(release) // lets the held job, and so Stop, finish
	wantReady(t, a.URL)
	a.StartJob(map[string]any{"functionId": "held"})
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("the held job never ran")
	}

	// Stop waits for the held job, within the grace.
	go a.Stop(context.Background())
	var status int
	var env envelope
	if !testutil.Eventually(5*time.Second, func() bool {
		status, env, _ = get(t, a.URL+probe.ReadyPath)
		return status == http.StatusServiceUnavailable
	}) {
		t.Fatalf("/readyz while stopping: %d %q, want 503", status, env.Message)
	}
	if *env.Code != 503 || env.Message != "shutting down" {
		t.Fatalf("/readyz while stopping: code %d %q, want 503 \"shutting down\"", *env.Code, env.Message)
	}
	wantAlive(t, a.URL)
}

// cuttableProxy forwards TCP to target until cut; once cut it still accepts connections (and
// keeps the open ones) but passes nothing on, like a network that drops packets.
type cuttableProxy struct {
	l   net.Listener
	cut atomic.Bool
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{l: l}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
	})
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				p.forward(client, target)
			}()
		}
	}()
	return p
}

func (p *cuttableProxy) forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			src.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := src.Read(buf)
			if n > 0 && !p.cut.Load() {
				if _, err := dst.Write(buf[:n]); err != nil {
					break
				}
			}
			var timeout net.Error
			if err != nil && !(errors.As(err, &timeout) && timeout.Timeout()) {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
}

func TestReadyBoundedWhenRedisStopsAnswering(t *testing.T) {
	t.Parallel()
	proxy := newCuttableProxy(t, testutil.RedisAddr())
	c := apptest.Config(t, func(c *config.Config) { c.Redis.Addr = proxy.l.Addr().String() })
	base := serve(t, c)
	wantReady(t, base)

	proxy.cut.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, env, took := get(t, base+probe.ReadyPath)
		if took > 2500*time.Millisecond {
			t.Fatalf("/readyz took %v with Redis not answering: probes must be bounded", took)
		}
		if status == http.StatusServiceUnavailable {
			if want := "redis unavailable: no answer within 1s"; env.Message != want {
				t.Fatalf("/readyz: want %q, got %q", want, env.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after Redis stopped answering", status)
		}
	}
	wantAlive(t, base)

	proxy.cut.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for {
		status, env, _ := get(t, base+probe.ReadyPath)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q after Redis came back", status, env.Message)
		}
	}
}

// logLines passes each log entry the server writes to the test.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// Not parallel: it turns the process-wide logger up to info and captures it.
func TestProbesStayOutOfTheRequestLog(t *testing.T) {
	c := apptest.Config(t, func(c *config.Config) { c.Redis.Addr = closedAddr(t) })
	base := serve(t, c)
	logs := make(logLines, 1000) // far more than this test's requests log
	logx.SetWriter(logx.NewWriter(logs))
	logx.SetLevel(logx.InfoLevel)
	t.Cleanup(func() {
		logx.SetLevel(logx.ErrorLevel)
		logx.SetWriter(logx.NewWriter(io.Discard))
	})

	for range 3 {
		get(t, base+probe.LivePath)
		if status, _, _ := get(t, base+probe.ReadyPath); status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz with Redis down: want 503, got %d", status)
		}
	}
	// A request the router handles is logged (its 401): every entry before it was written
	// before it, so none may be a probe's.
	resp, err := http.Get(base + "/api/v1/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case entry := <-logs:
			if strings.Contains(entry, probe.LivePath) || strings.Contains(entry, probe.ReadyPath) {
				t.Fatalf("a probe was logged: %s", entry)
			}
			if strings.Contains(entry, "/api/v1/functions") {
				return
			}
		case <-timeout:
			t.Fatal("the router's request was not logged")
		}
	}
}

func TestReadinessChecksOncePerCacheFor(t *testing.T) {
	t.Parallel()
	var rounds atomic.Int32
	check := probe.Check{Name: "counted", Check: func(context.Context) error { rounds.Add(1); return nil }}
	next := http.NotFoundHandler()

	cached := httptest.NewServer(probe.New(probe.Config{Timeout: time.Second, CacheFor: time.Hour}, []probe.Check{check}, next))
	defer cached.Close()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(cached.URL + probe.ReadyPath)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := rounds.Load(); n != 1 {
		t.Fatalf("20 probes within CacheFor ran %d rounds, want 1", n)
	}

	uncached := httptest.NewServer(probe.New(probe.Config{Timeout: time.Second}, []probe.Check{check}, next))
	defer uncached.Close()
	for range 3 {
		wantReady(t, uncached.URL)
	}
	if n := rounds.Load(); n != 4 {
		t.Fatalf("3 probes without a cache ran %d more rounds, want 3", n-1)
	}
	// Other paths and methods go to the router.
	resp, err := http.Post(uncached.URL+probe.ReadyPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /readyz: want the router's answer (404 here), got %d", resp.StatusCode)
	}
}
