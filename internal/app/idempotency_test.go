package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

func TestSameIdempotencyKeyStartsOneJobUnderConcurrency(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	a := apptest.StartApp(t, c)
	body := map[string]any{"functionId": "echo", "params": map[string]any{"n": 1}, "idempotencyKey": "deploy-42"}
	// The sweeper's first pass re-enqueues every pending job (fresh Redis); let it pass, so
	// the stream shows what the starts enqueued.
	rdb := testutil.Redis(t)
	if !testutil.Eventually(5*time.Second, func() bool {
		return rdb.Exists(context.Background(), rediskeys.New(c.Redis.Prefix).Epoch()).Val() == 1
	}) {
		t.Fatal("the sweeper never wrote the epoch marker")
	}

	const callers = 50
	ids := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { ids[i] = a.StartJob(body).Id })
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent starts with one key returned different jobs: %s and %s", ids[0], id)
		}
	}
	db := testutil.DB(t, c.MySQL.DataSource)
	if n := testutil.Query[int](t, db, "SELECT COUNT(*) FROM jobs"); n != 1 {
		t.Fatalf("%d jobs stored for one idempotency key, want 1", n)
	}
	if n, err := a.Svc.Queue.Backlog(context.Background()); err != nil || n != 1 {
		t.Errorf("stream holds %d entries (%v), want the one job enqueued once", n, err)
	}

	// A later retry gets the job as it is now, not a fresh one.
	a.Do(http.MethodPost, "/api/v1/jobs/"+ids[0]+"/cancel", nil).Data(t, nil)
	if again := a.StartJob(body); again.Id != ids[0] || again.Status != "cancelled" {
		t.Errorf("retry after cancel: %+v, want job %s as it is (cancelled)", again, ids[0])
	}
	// Keys are per tenant, and another key is another job.
	if other := a.As("tenant-b", "bob").StartJob(body); other.Id == ids[0] || other.TenantId != "tenant-b" {
		t.Errorf("tenant-b with the same key got %+v", other)
	}
	body["idempotencyKey"] = "deploy-43"
	if next := a.StartJob(body); next.Id == ids[0] {
		t.Errorf("a new key returned the old job")
	}
	delete(body, "idempotencyKey")
	if x, y := a.StartJob(body), a.StartJob(body); x.Id == y.Id {
		t.Errorf("starts without a key were merged")
	}
	if n := testutil.Query[int](t, db, "SELECT COUNT(*) FROM jobs"); n != 5 {
		t.Errorf("%d jobs stored, want 5", n)
	}

	body["idempotencyKey"] = strings.Repeat("k", 256)
	res := a.Do(http.MethodPost, "/api/v1/jobs", body)
	if _, msg, _ := res.Envelope(t); res.Status != http.StatusBadRequest || !strings.HasPrefix(msg, "idempotencyKey") {
		t.Errorf("256-character key: %d %q, want 400 naming idempotencyKey", res.Status, msg)
	}
}
