package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"jobs/internal/app"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/testutil"
)

// Not parallel: the backlog collector is one per process, so no other test's app may come
// and go meanwhile. Two apps in one process: the later one reports its own backlog; once it
// stops, the earlier one's is reported again, and once both stopped, none (no scrape reads a
// closed pool).
func TestBacklogIsReportedByTheLatestAppStillRunning(t *testing.T) {
	fn := func(id string) *functions.Definition {
		return testFunction(id, 1, time.Minute, func(context.Context, functions.Call, functions.Reporter) (any, error) { return nil, nil })
	}
	start := func(id string, jobs int) *apptest.App {
		a := apptest.StartApp(t, apptest.Config(t, noWorkers), fn(id))
		for range jobs {
			a.StartJob(map[string]any{"functionId": id})
		}
		return a
	}
	pending := func(function string) (float64, bool) {
		families, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		m := testutil.Metrics{}
		for _, f := range families {
			m[f.GetName()] = f
		}
		return m.Value("jobs_pending", "function", function)
	}
	want := func(when string, function string, value float64, present bool) {
		t.Helper()
		if got, ok := pending(function); ok != present || got != value {
			t.Fatalf("%s: jobs_pending{%s} = %v (present %v), want %v (present %v)", when, function, got, ok, value, present)
		}
	}

	first := start("backlog-first", 1)
	want("one app", "backlog-first", 1, true)
	second := start("backlog-second", 2)
	want("two apps", "backlog-second", 2, true)
	want("two apps", "backlog-first", 0, false)
	second.Stop(context.Background())
	want("the second app stopped", "backlog-second", 0, false)
	want("the second app stopped", "backlog-first", 1, true)
	first.Stop(context.Background())
	want("both apps stopped", "backlog-first", 0, false)
}

// Not parallel (goroutines are counted): when Run's HTTP server fails (here its listening
// socket is shut down under it, so accept fails), Run stops the rest and returns the error,
// so that the process exits non-zero and is restarted at once, rather than running its
// workers with no API until a liveness probe gives up on it.
func TestRunEndsWhenItsHTTPServerFails(t *testing.T) {
	ctx := context.Background()
	wantNoGoroutinesLeft(t, "a Run whose server failed outlive it", func() {
		c := apptest.Config(t, func(c *config.Config) { c.Port = testutil.FreePort(t) })
		a, err := app.New(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ran := make(chan error, 1)
		go func() { ran <- a.Run(ctx) }()
		url := fmt.Sprintf("http://127.0.0.1:%d/healthz", c.Port)
		if !testutil.Eventually(10*time.Second, func() bool {
			resp, err := http.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}) {
			t.Fatalf("Run never served %s", url)
		}
		shutDownListener(t, c.Port)
		select {
		case err := <-ran:
			if err == nil || !strings.Contains(err.Error(), "accept") {
				t.Fatalf("Run returned %v, want the server's accept error", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run still running 20 s after its HTTP server failed")
		}
	})
}

// shutDownListener shuts down (shutdown(2)) this process's socket listening on port, which
// makes its accept fail with EINVAL.
func shutDownListener(t *testing.T, port int) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if in, ok := sa.(*syscall.SockaddrInet4); err != nil || !ok || in.Port != port {
			continue
		}
		if listening, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err == nil && listening == 1 {
			if err := syscall.Shutdown(fd, syscall.SHUT_RDWR); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no socket listens on port %d", port)
}

// A server of the caller's serving App.Handler stays open after Stop: what it is asked
// then meets closed connections, and answers as an outage of what it needed (or, a
// stream, the server shutting down), never a 500.
func TestRequestsAfterStopAreOutagesNotErrors(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(job.Id, "completed", 5*time.Second)
	a.Stop(context.Background())
	for _, route := range everyRoute(job.Id) {
		res := a.Do(route[0], route[1], outageBody(route, job.Id))
		if res.Status < http.StatusInternalServerError {
			continue
		}
		code, msg, _ := res.Envelope(t)
		if res.Status != http.StatusServiceUnavailable || code != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
			(msg != "mysql unavailable" && msg != "redis unavailable" && msg != "the server is shutting down") {
			t.Errorf("%s %s after Stop: %d %s (Retry-After %q), want a 503 naming mysql, redis or the shutdown",
				route[0], route[1], res.Status, res.Body, res.Header.Get("Retry-After"))
		}
	}
}

// A request still running when the HTTP drain gives up (app.HTTPDrain; here a bulk cancel
// waiting for a job row another transaction holds, which MySQL would make wait 50 s) is cut
// off then, its connection closed and its context ended, not left running through the
// workers' grace until the pools close under it.
func TestRequestsPastTheDrainAreCutOffBeforeThePoolsClose(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	c.Worker.ShutdownGrace = 5 * time.Second // the job below runs on: the workers take all of it
	p := startProcess(t, c, "all")
	client := apptest.Client(t, p.URL, c)
	job := client.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3600}})
	client.WaitStatus(job.Id, "running", 30*time.Second)
	// Due in an hour, so no worker claims it meanwhile.
	locked := client.StartJob(map[string]any{"functionId": "echo", "runAt": time.Now().Add(time.Hour).Format(time.RFC3339)})
	testutil.LockJob(t, testutil.DB(t, c.MySQL.DataSource), locked.Id)

	answered := sendOnItsOwn(t, client, http.MethodPost, "/api/v1/jobs/cancel", `{"ids":["`+locked.Id+`"]}`)
	signalled := time.Now()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("the process did not exit 0: %v", err)
	}
	exited := time.Now()
	a := <-answered
	if a.status >= http.StatusInternalServerError && a.status != http.StatusServiceUnavailable {
		t.Errorf("the bulk cancel was answered %d", a.status)
	}
	// It ends with the drain, 10 s after the signal, and the process 5 s later (the grace).
	if took, left := a.at.Sub(signalled), exited.Sub(a.at); took < app.HTTPDrain/2 || left < c.Worker.ShutdownGrace/2 {
		t.Fatalf("the bulk cancel ended %s after the signal and %s before the process exited (%d %v), want about %s and %s",
			took.Round(time.Millisecond), left.Round(time.Millisecond), a.status, a.err, app.HTTPDrain, c.Worker.ShutdownGrace)
	}
	if strings.Contains(p.Logs(), "database is closed") {
		t.Errorf("a request met the closed pool:\n%s", p.Logs())
	}
}

// A result wait open as the process stops answers at once with the job as it stands, as one
// whose wait ran out does, rather than hold the HTTP drain until it is cut off unanswered.
func TestResultWaitsAnswerAtOnceWhenTheProcessStops(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	p := startProcess(t, c, "api")
	client := apptest.Client(t, p.URL, c)
	job := client.StartJob(map[string]any{"functionId": "echo"}) // no workers: it stays pending

	answered := sendOnItsOwn(t, client, http.MethodGet, "/api/v1/jobs/"+job.Id+"/result?wait=60", "")
	signalled := time.Now()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a := <-answered
	if err := p.Wait(); err != nil {
		t.Fatalf("the process did not exit 0: %v", err)
	}
	exited := time.Now()
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("the result wait was answered %d %s (%v) %s after the signal, want 200 with the pending job",
			a.status, a.body, a.err, a.at.Sub(signalled).Round(time.Millisecond))
	}
	var result struct{ Id, Status string }
	apptest.Response{Status: a.status, Body: a.body}.Data(t, &result)
	if result.Id != job.Id || result.Status != "pending" {
		t.Errorf("the result wait answered %s, want job %s pending", a.body, job.Id)
	}
	if took := exited.Sub(signalled); took > app.HTTPDrain/2 {
		t.Errorf("the process exited %s after the signal (the answer came after %s), want well within the drain (%s)",
			took.Round(time.Millisecond), a.at.Sub(signalled).Round(time.Millisecond), app.HTTPDrain)
	}
}

// answer is what a request sent by sendOnItsOwn got, and when.
type answer struct {
	status int
	body   []byte
	err    error
	at     time.Time
}

// sendOnItsOwn sends a request as client on a connection of its own, returning once the
// server has accepted that connection (it is serving the request when the test goes on); its
// answer comes on the channel.
func sendOnItsOwn(t *testing.T, client *apptest.App, method, path, body string) <-chan answer {
	t.Helper()
	req, err := http.NewRequest(method, client.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+client.BearerToken())
	req.Header.Set("Content-Type", "application/json")
	sent := make(chan struct{})
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) },
	}))
	answered := make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		a := answer{err: err}
		if err == nil {
			a.body, a.err = io.ReadAll(resp.Body)
			a.status = resp.StatusCode
			resp.Body.Close()
		}
		a.at = time.Now()
		answered <- a
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s %s was not sent within 10 s", method, path)
	}
	// Written is not yet accepted: a connection still in the listener's queue (or with its
	// handshake unfinished) when the listener closes is reset (EOF). A later connection
	// answered first does not show it accepted: on a loaded machine the kernel can queue the
	// two out of order (this test failed so under two CPU burners). So wait until the server's
	// listen queue is empty, as Linux's /proc/net/tcp shows; elsewhere a later connection's
	// answer is the best sign there is.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := fresh.Get(client.URL + "/healthz")
	if err != nil {
		t.Fatalf("a request after %s %s: %v", method, path, err)
	}
	resp.Body.Close()
	u, err := url.Parse(client.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(10*time.Second, func() bool { return acceptedAll(t, u.Port()) }) {
		t.Fatalf("the server did not accept the connection of %s %s within 10 s", method, path)
	}
	return answered
}

// acceptedAll reports whether the server listening on port (decimal) has accepted every
// connection made to it: its listen queue is empty and no handshake to it is unfinished. It
// reports true where /proc/net/tcp cannot be read (not Linux).
func acceptedAll(t *testing.T, port string) bool {
	t.Helper()
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return true
	}
	// Rows: "sl local_address rem_address st tx_queue:rx_queue ..."; for a listening socket
	// (st 0A) rx_queue is its accept queue, and an unfinished handshake is a row in st 03.
	local := fmt.Sprintf(":%04X", n)
	for _, row := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(row)
		if len(f) < 5 || !strings.HasSuffix(f[1], local) {
			continue
		}
		_, queued, _ := strings.Cut(f[4], ":")
		if f[3] == "03" || f[3] == "0A" && strings.TrimLeft(queued, "0") != "" {
			return false
		}
	}
	return true
}

// With Shutdown.DrainDelay, Run keeps serving for that long after SIGTERM, /readyz answering
// 503 "shutting down", before its listener closes: a load balancer that polls /readyz stops
// sending requests before they would be refused.
func TestDrainDelayServesWithReadinessDownBeforeTheListenerCloses(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	const delay = 5 * time.Second
	p := startProcess(t, c, "api", fmt.Sprintf("Shutdown:\n  DrainDelay: %s\n", delay))
	// New connections each time: a load balancer's probe and requests.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ready := func() (int, string, error) {
		resp, err := fresh.Get(p.URL + "/readyz")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	if status, body, err := ready(); status != http.StatusOK {
		t.Fatalf("/readyz before the signal: %d %s %v", status, body, err)
	}
	signalled := time.Now()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var status int
	var body string
	if !testutil.Eventually(delay, func() bool {
		status, body, _ = ready()
		return status == http.StatusServiceUnavailable
	}) || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz after the signal: %d %s, want 503 shutting down", status, body)
	}
	client := apptest.Client(t, p.URL, c)
	client.StartJob(map[string]any{"functionId": "echo"}) // still served
	if !testutil.Eventually(30*time.Second, func() bool { _, _, err := ready(); return err != nil }) {
		t.Fatal("the listener never closed")
	}
	if d := time.Since(signalled); d < delay {
		t.Fatalf("the listener closed %s after the signal, before the drain delay (%s)", d, delay)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("the process did not exit 0: %v", err)
	}
}
