package callbacks

import (
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
