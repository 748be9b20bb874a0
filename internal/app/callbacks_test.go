package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/callbacks"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// receiver is a callback endpoint that records deliveries and answers with the status
// fail returns (200 when fail is nil).
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivery
	fail       func(n int) int
}

type delivery struct {
	body                         []byte
	signature, id, attempt, kind string
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	r := &receiver{fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.deliveries = append(r.deliveries, delivery{body: body, signature: req.Header.Get(callbacks.HeaderSignature),
			id: req.Header.Get(callbacks.HeaderDelivery), attempt: req.Header.Get(callbacks.HeaderAttempt),
			kind: req.Header.Get("Content-Type")})
		n := len(r.deliveries)
		r.mu.Unlock()
		if r.fail != nil {
			if code := r.fail(n); code != 200 {
				http.Error(w, "not now", code)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...)
}

// allowLoopback lets callbacks reach the test receivers on 127.0.0.1.
func allowLoopback(c *config.Config) { c.Callbacks.AllowNetworks = []string{"127.0.0.0/8"} }

func TestCallbackIsSignedAndDeliveredOnce(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, nil)
	c := apptest.Config(t, allowLoopback)
	a := apptest.StartApp(t, c)

	job := a.StartJob(map[string]any{"functionId": "echo", "params": map[string]any{"x": 1}, "callbackUrl": r.URL + "/hook?k=v"})
	if job.CallbackUrl != r.URL+"/hook?k=v" || job.Callback == nil || job.Callback.Status != "pending" || job.Callback.Attempts != 0 {
		t.Fatalf("new job: url %q callback %+v", job.CallbackUrl, job.Callback)
	}
	done := a.WaitJob(job.Id, 10*time.Second, "delivered", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "delivered"
	})
	if done.Callback.Attempts != 1 || done.Callback.DeliveredAt == nil || done.Callback.LastError != "" || done.Callback.NextAttemptAt != nil {
		t.Errorf("callback: %+v", done.Callback)
	}
	got := r.got()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	d := got[0]
	if d.signature != callbacks.Sign(c.Callbacks.Secret, d.body) || !strings.HasPrefix(d.signature, "sha256=") {
		t.Errorf("signature %q does not match the body", d.signature)
	}
	if callbacks.Sign("another secret", d.body) == d.signature {
		t.Error("the signature does not depend on the secret")
	}
	if len(d.id) != 36 || d.attempt != "1" || d.kind != "application/json" {
		t.Errorf("headers: id %q attempt %q content type %q", d.id, d.attempt, d.kind)
	}
	var body apptest.Job
	if err := json.Unmarshal(d.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Id != job.Id || body.Status != "completed" || string(body.Result) != `{"x":1}` || body.FinishedAt == nil || body.Callback != nil {
		t.Errorf("body: %s", d.body)
	}
	// The delivery is recorded as delivered (above), so no later round claims it again;
	// stopping the process waits for a delivery still in flight. What has arrived then is
	// all that ever will.
	a.Stop(context.Background())
	if n := len(r.got()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

func TestCallbackIsRetriedWithTheSameDeliveryIdThenGivenUp(t *testing.T) {
	t.Parallel()
	flaky := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 200
	})
	down := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	a := apptest.StartApp(t, apptest.Config(t, allowLoopback, func(c *config.Config) { c.Callbacks.MaxAttempts = 3 }))

	job := a.StartJob(map[string]any{"functionId": "echo", "callbackUrl": flaky.URL})
	done := a.WaitJob(job.Id, 10*time.Second, "delivered", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "delivered"
	})
	got := flaky.got()
	if done.Callback.Attempts != 3 || len(got) != 3 || got[0].id != got[2].id || got[2].attempt != "3" {
		t.Errorf("callback %+v after %d deliveries", done.Callback, len(got))
	}

	job = a.StartJob(map[string]any{"functionId": "fail", "callbackUrl": down.URL})
	failed := a.WaitJob(job.Id, 10*time.Second, "given up", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "failed"
	})
	if failed.Callback.Attempts != 3 || failed.Callback.LastError != "HTTP 500: not now" || len(down.got()) != 3 {
		t.Errorf("callback %+v after %d deliveries", failed.Callback, len(down.got()))
	}
}

// Every way a job ends schedules its callback: the worker's outcome (above), cancel, and
// the lease reaper.
func TestCallbackAfterCancelAndAfterWorkerLost(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, nil)
	c := apptest.Config(t, allowLoopback)
	a := apptest.StartApp(t, c)
	db := testutil.DB(t, c.MySQL.DataSource)

	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cancelled := a.StartJob(map[string]any{"functionId": "echo", "runAt": later, "callbackUrl": r.URL})
	a.Do(http.MethodPost, "/api/v1/jobs/"+cancelled.Id+"/cancel", nil).Data(t, nil)

	// A job whose worker vanished on its last attempt: the reaper fails it.
	lost := a.StartJob(map[string]any{"functionId": "echo", "runAt": later, "callbackUrl": r.URL})
	testutil.Exec(t, db, "update jobs set status = 'running', attempt = max_attempts, lease_owner = 'gone', "+
		"lease_expires_at = now(3) - interval 1 second where id = ?", lost.Id)
	for id, status := range map[string]string{cancelled.Id: "cancelled", lost.Id: "failed"} {
		a.WaitJob(id, 10*time.Second, "delivered", func(j apptest.Job) bool {
			return j.Status == status && j.Callback != nil && j.Callback.Status == "delivered"
		})
	}
	statuses := map[string]string{}
	for _, d := range r.got() {
		var body apptest.Job
		if err := json.Unmarshal(d.body, &body); err != nil {
			t.Fatal(err)
		}
		statuses[body.Id] = body.Status + " " + body.Error
	}
	if statuses[cancelled.Id] != "cancelled " || statuses[lost.Id] != "failed worker lost" {
		t.Errorf("delivered: %v", statuses)
	}
}

func TestCallbackURLsOfInternalAddressesAreRefused(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	for url, want := range map[string]string{
		"http://127.0.0.1:8080/hook":          "callbackUrl host 127.0.0.1 is a loopback address",
		"http://localhost/hook":               "callbackUrl host localhost is a loopback address",
		"http://api.localhost./hook":          "is a loopback address",
		"http://[::1]/":                       "is a loopback address",
		"http://[::ffff:127.0.0.1]/":          "is a loopback address",
		"http://10.1.2.3/":                    "is a private address",
		"https://192.168.0.10/":               "is a private address",
		"http://172.16.5.4/":                  "is a private address",
		"http://[fd00::1]/":                   "is a private address",
		"http://169.254.169.254/latest":       "is a link-local address",
		"http://0.0.0.0/":                     "not a unicast address",
		"http://[64:ff9b::a00:5]/":            "is a private address (10.0.0.5 through NAT64)",
		"http://[64:ff9b::7f00:1]/":           "is a loopback address (127.0.0.1 through NAT64)",
		"ftp://example.com/hook":              "callbackUrl must be an absolute http or https URL",
		"file:///etc/passwd":                  "callbackUrl must be an absolute http or https URL",
		"/relative":                           "callbackUrl must be an absolute http or https URL",
		"http://" + strings.Repeat("a", 2050): "callbackUrl is longer than 2048 characters",
	} {
		res := a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo", "callbackUrl": url})
		if code, msg, _ := res.Envelope(t); res.Status != 400 || code != 400 || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %q, want 400 with %q", url, res.Status, msg, want)
		}
	}
	// A public name is accepted at start (it is checked again, resolved, when delivering).
	job := a.StartJob(map[string]any{"functionId": "echo", "callbackUrl": "https://hooks.example.com/jobs",
		"runAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	if job.CallbackUrl != "https://hooks.example.com/jobs" {
		t.Errorf("callbackUrl = %q", job.CallbackUrl)
	}
}

// TestCallbackDialRefusesInternalAddressesAfterResolving plays DNS rebinding: the stored URL
// names a host that resolves to loopback only when delivering. The dialer refuses it and the
// delivery fails at once; nothing reaches the receiver.
func TestCallbackDialRefusesInternalAddressesAfterResolving(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, nil)
	c := apptest.Config(t)
	a := apptest.StartApp(t, c)
	db := testutil.DB(t, c.MySQL.DataSource)

	job := a.StartJob(map[string]any{"functionId": "echo", "callbackUrl": "https://hooks.example.com/jobs",
		"runAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	rebound := strings.Replace(r.URL, "127.0.0.1", "localhost", 1)
	testutil.Exec(t, db, "update jobs set callback_url = ? where id = ?", rebound, job.Id)
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil)
	failed := a.WaitJob(job.Id, 10*time.Second, "refused", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "failed"
	})
	if failed.Callback.Attempts != 1 || !strings.Contains(failed.Callback.LastError, "refused") ||
		!strings.Contains(failed.Callback.LastError, "is a loopback address") {
		t.Errorf("callback: %+v", failed.Callback)
	}
	if n := len(r.got()); n != 0 {
		t.Errorf("the receiver got %d deliveries", n)
	}
}

// Pending deliveries live in MySQL: a process that stops before the receiver answers
// leaves them to the next one.
func TestCallbackDeliverySurvivesARestart(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	r := newReceiver(t, func(int) int {
		if up.Load() {
			return 200
		}
		return http.StatusBadGateway
	})
	c := apptest.Config(t, allowLoopback, func(c *config.Config) {
		c.Callbacks.MaxAttempts = 100
		c.Callbacks.Backoff = 200 * time.Millisecond
	})
	first := apptest.StartApp(t, c)
	job := first.StartJob(map[string]any{"functionId": "echo", "callbackUrl": r.URL})
	first.WaitJob(job.Id, 10*time.Second, "tried", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Attempts >= 1
	})
	first.Stop(context.Background())

	up.Store(true)
	second := apptest.StartApp(t, c)
	done := second.WaitJob(job.Id, 10*time.Second, "delivered", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "delivered"
	})
	if done.Callback.Attempts < 2 || done.Callback.LastError != "" {
		t.Errorf("callback: %+v", done.Callback)
	}
}

// A delivery cut short by a stop before the receiver answered gives its claim back: the next
// process makes it at once, not once the lease (here 25 s, as by default) runs out, and the
// attempt cut short is not counted.
func TestCallbackCutShortByAStopIsDueAgainAtOnce(t *testing.T) {
	t.Parallel()
	taken, release := make(chan struct{}), make(chan struct{})
	r := newReceiver(t, func(n int) int {
		if n == 1 { // the first delivery is not answered before the stop
			close(taken)
			<-release
		}
		return 200
	})
	t.Cleanup(func() { close(release) }) // before the receiver closes (cleanups run last first)
	c := apptest.Config(t, allowLoopback, func(c *config.Config) { c.Callbacks.Timeout = 10 * time.Second })
	first := apptest.StartApp(t, c)
	job := first.StartJob(map[string]any{"functionId": "echo", "callbackUrl": r.URL})
	select {
	case <-taken:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	first.Stop(context.Background())

	var attempts int64
	var due bool
	if err := testutil.DB(t, c.MySQL.DataSource).QueryRow("SELECT callback_attempts, callback_due_at <= now(3) FROM jobs WHERE id = ?",
		job.Id).Scan(&attempts, &due); err != nil {
		t.Fatal(err)
	}
	if attempts != 0 || !due {
		t.Errorf("after the stop: callback attempts %d, due now %v; want 0 attempts and due at once", attempts, due)
	}
	second := apptest.StartApp(t, c)
	done := second.WaitJob(job.Id, 5*time.Second, "delivered", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Status == "delivered"
	})
	if done.Callback.Attempts != 1 {
		t.Errorf("callback: %+v, want delivered on its first counted attempt", done.Callback)
	}
	if got := r.got(); len(got) != 2 || got[1].attempt != "1" || got[1].id != got[0].id {
		t.Errorf("%d deliveries (%+v), want the one cut short and then the same delivery again as attempt 1", len(got), got)
	}
}
