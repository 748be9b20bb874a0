package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// startBatch posts a batch of start requests and returns the jobs of the answer.
func startBatch(t *testing.T, a *apptest.App, items ...map[string]any) []apptest.Job {
	t.Helper()
	var resp struct {
		Jobs []apptest.Job `json:"jobs"`
	}
	a.Do(http.MethodPost, "/api/v1/jobs/batch", map[string]any{"jobs": items}).Data(t, &resp)
	if len(resp.Jobs) != len(items) {
		t.Fatalf("batch of %d answered %d jobs", len(items), len(resp.Jobs))
	}
	return resp.Jobs
}

func TestBatchStartsJobsInRequestOrder(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	jobs := startBatch(t, a,
		map[string]any{"functionId": "echo", "name": "first", "params": map[string]any{"n": 1}},
		map[string]any{"functionId": "echo", "name": "second", "runAt": later},
		map[string]any{"functionId": "echo", "name": "third", "params": map[string]any{"n": 3}},
	)
	for i, name := range []string{"first", "second", "third"} {
		if jobs[i].Name != name || jobs[i].Status != "pending" || jobs[i].Actor == "" {
			t.Errorf("item %d: %+v, want the pending job named %s with the caller as actor", i, jobs[i], name)
		}
	}
	// Durable before the answer, and run like any started job.
	a.WaitStatus(jobs[0].Id, "completed", 20*time.Second)
	a.WaitStatus(jobs[2].Id, "completed", 20*time.Second)
	if delayed := a.GetJob(jobs[1].Id); delayed.Status != "pending" || delayed.RunAt == nil {
		t.Errorf("the delayed item: %+v, want pending until its runAt", delayed)
	}
}

func TestBatchWithABadItemWritesNothing(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers, func(c *config.Config) { c.Limits.MaxBatch = 5 })
	a := apptest.StartApp(t, c)
	good := map[string]any{"functionId": "echo"}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		prefix string
	}{
		{"unknown function in item 3", map[string]any{"jobs": []any{good, good, good, map[string]any{"functionId": "nope"}}},
			http.StatusBadRequest, "jobs[3].functionId"},
		{"missing function in item 1", map[string]any{"jobs": []any{good, map[string]any{"name": "x"}}},
			http.StatusBadRequest, "jobs[1].functionId"},
		{"bad runAt in item 0", map[string]any{"jobs": []any{map[string]any{"functionId": "echo", "runAt": "soon"}, good}},
			http.StatusBadRequest, "jobs[0].runAt"},
		{"params not an object in item 2", map[string]any{"jobs": []any{good, good, map[string]any{"functionId": "echo", "params": "x"}}},
			http.StatusBadRequest, "jobs[2].params"},
		{"a number for a string in item 1", map[string]any{"jobs": []any{good, map[string]any{"functionId": 7}}},
			http.StatusBadRequest, "jobs[1].functionId must be a string"},
		{"no jobs", map[string]any{"jobs": []any{}}, http.StatusBadRequest, "jobs"},
		{"over Limits.MaxBatch", map[string]any{"jobs": []any{good, good, good, good, good, good}}, http.StatusBadRequest, "jobs holds 6"},
	} {
		res := a.Do(http.MethodPost, "/api/v1/jobs/batch", tc.body)
		code, msg, _ := res.Envelope(t)
		if res.Status != tc.status || code != tc.status || !strings.HasPrefix(msg, tc.prefix) {
			t.Errorf("%s: %d %d %q, want %d starting %q", tc.name, res.Status, code, msg, tc.status, tc.prefix)
		}
	}
	db := testutil.DB(t, c.MySQL.DataSource)
	if n := testutil.Query[int](t, db, "SELECT COUNT(*) FROM jobs"); n != 0 {
		t.Errorf("%d jobs stored by refused batches, want none", n)
	}
}

func TestBatchIdempotencyKeys(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	a := apptest.StartApp(t, c)
	before := a.StartJob(map[string]any{"functionId": "echo", "idempotencyKey": "a"})
	items := []map[string]any{
		{"functionId": "echo", "idempotencyKey": "a"},
		{"functionId": "echo", "idempotencyKey": "b", "name": "b-first"},
		{"functionId": "echo", "idempotencyKey": "b", "name": "b-again"},
		{"functionId": "echo"},
	}
	jobs := startBatch(t, a, items...)
	if jobs[0].Id != before.Id {
		t.Errorf("key a, used before the batch: job %s, want %s", jobs[0].Id, before.Id)
	}
	if jobs[1].Id != jobs[2].Id || jobs[1].Name != "b-first" || jobs[1].Id == before.Id {
		t.Errorf("key b twice in the batch: %+v and %+v, want one new job, the first item's", jobs[1], jobs[2])
	}
	if jobs[3].Id == jobs[1].Id || jobs[3].Id == before.Id {
		t.Errorf("the item without a key was merged with another: %+v", jobs[3])
	}
	// The same batch again starts nothing new but the keyless item.
	again := startBatch(t, a, items...)
	for i := range 3 {
		if again[i].Id != jobs[i].Id {
			t.Errorf("retried item %d: job %s, want %s", i, again[i].Id, jobs[i].Id)
		}
	}
	db := testutil.DB(t, c.MySQL.DataSource)
	if n := testutil.Query[int](t, db, "SELECT COUNT(*) FROM jobs"); n != 4 {
		t.Errorf("%d jobs stored, want 4 (a, b and two keyless)", n)
	}
}

// A batch whose params add up to more than one statement may carry (MariaDB's
// max_allowed_packet, 16 MiB here), allowed by a raised MaxBytes, is written whole, its
// idempotency keys still answering the jobs they started.
func TestBatchOfLargeParamsIsWritten(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers, func(c *config.Config) { c.MaxBytes = 32 << 20 })
	a := apptest.StartApp(t, c)
	const n = 300 // of 60 KiB params each: 18 MiB
	pad := strings.Repeat("x", 60000)
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"functionId": "echo", "idempotencyKey": fmt.Sprint("k", i), "params": map[string]any{"pad": pad}}
	}
	jobs := startBatch(t, a, items...)
	again := startBatch(t, a, items...)
	for i := range jobs {
		if again[i].Id != jobs[i].Id {
			t.Fatalf("retried item %d: job %s, want %s", i, again[i].Id, jobs[i].Id)
		}
	}
	db := testutil.DB(t, c.MySQL.DataSource)
	if got := testutil.Query[int](t, db, "select count(*) from jobs where length(params) > 60000"); got != n {
		t.Fatalf("%d jobs stored with their params, want %d", got, n)
	}
}

// A batch route may take its whole route timeout (60 s) to write: a write held up longer than
// a single start's 10 s bound (here by another transaction's uncommitted start with the same
// idempotency key, as a loaded MariaDB holds up an 18 MiB batch) still answers the jobs, not
// a 503 while nothing was wrong.
func TestBatchWriteMayTakeTheRouteTimeout(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	db := testutil.DB(t, a.Config.MySQL.DataSource)
	holder, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec("insert into jobs (id, tenant_id, function_id, status, params, error, max_attempts, "+
		"created_at, idempotency_key) values (uuid(), ?, 'echo', 'pending', '{}', '', 1, now(3), 'held')", apptest.DefaultTenant); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() {
		// Once the batch's insert waits for the key's lock, hold it past a single start's
		// 10 s write bound, then give the key up.
		for {
			var waiting int
			err := db.QueryRow("select count(*) from information_schema.innodb_trx t join information_schema.processlist p " +
				"on p.id = t.trx_mysql_thread_id where t.trx_state = 'LOCK WAIT' and p.db = database()").Scan(&waiting)
			if err != nil {
				released <- err
				return
			}
			if waiting > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(12 * time.Second)
		released <- holder.Rollback()
	}()
	jobs := startBatch(t, a, map[string]any{"functionId": "echo", "idempotencyKey": "held"}, map[string]any{"functionId": "echo"})
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if got := testutil.Query[string](t, db, "select id from jobs where idempotency_key = 'held'"); got != jobs[0].Id {
		t.Errorf("the key's job is %s, want the batch's %s", got, jobs[0].Id)
	}
}
