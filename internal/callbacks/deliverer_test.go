package callbacks

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/jobview"
	"jobs/internal/testutil"
	"jobs/model"
)

// stopOnAnswer is the deliverer's transport, stopping the deliverer the moment the receiver's
// answer is in: a shutdown that comes just after a delivery was made.
type stopOnAnswer struct {
	d       *Deliverer
	next    http.RoundTripper
	stopped chan struct{}
}

func (s stopOnAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil {
		s.d.stop()
		close(s.stopped)
	}
	return resp, err
}

// A delivery the receiver took is recorded as delivered, even when the deliverer stops right
// after: otherwise it is made again once its lease expires.
func TestDeliveryTakenJustBeforeStopIsRecorded(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	var received atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	job := testutil.NewFactory(t, store).Completed(`1`, testutil.WithCallback(receiver.URL))

	cfg := config.CallbacksConf{Secret: "s", Timeout: 5 * time.Second, MaxAttempts: 3, Backoff: time.Second,
		MaxBackoff: time.Minute, Interval: 10 * time.Millisecond, Concurrency: 2}
	d := NewDeliverer(cfg, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, jobview.CallbackBody, store.Jobs)
	stopped := make(chan struct{})
	d.client.Transport = stopOnAnswer{d: d, next: d.client.Transport, stopped: stopped}
	d.Start()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	d.Stop()
	if got := testutil.NewFactory(t, store).Get(job.Id); got.CallbackStatus != model.CallbackDelivered {
		t.Errorf("callback %q after %d deliveries (attempts %d), want delivered", got.CallbackStatus, received.Load(), got.CallbackAttempts)
	}
}

// A delivery cut short by Stop gives its claim back with a write that is bounded like the
// other writes at shutdown: with the job's row locked by another transaction (MySQL would
// make the write wait 50 s), Stop still returns within stopTimeout, leaving the delivery to
// its lease.
func TestStopReleasesDeliveriesInFlightWithinABound(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	taken := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		close(taken)                         // one job, one delivery
		_, _ = io.Copy(io.Discard, req.Body) // then a client gone ends the request's context
		<-req.Context().Done()
	}))
	t.Cleanup(receiver.Close)
	job := testutil.NewFactory(t, store).Completed(`1`, testutil.WithCallback(receiver.URL))

	cfg := config.CallbacksConf{Secret: "s", Timeout: 10 * time.Second, MaxAttempts: 3, Backoff: time.Second,
		MaxBackoff: time.Minute, Interval: 10 * time.Millisecond, Concurrency: 2}
	d := NewDeliverer(cfg, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, jobview.CallbackBody, store.Jobs)
	d.Start()
	select {
	case <-taken:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	testutil.LockJob(t, store.DB, job.Id)
	began := time.Now()
	d.Stop()
	// stopTimeout, 3 s, as the workers' hand-back: not the 10 s of a write outside a stop.
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Stop took %s with the job's row locked, want about %s", took.Round(time.Millisecond), stopTimeout)
	}
}
