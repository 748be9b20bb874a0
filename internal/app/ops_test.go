package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/uuid"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/testutil"
)

// bulkResult is the answer of POST /api/v1/jobs/cancel and /rerun.
type bulkResult struct {
	Acted    int64    `json:"acted"`
	Skipped  int64    `json:"skipped"`
	Ids      []string `json:"ids"`
	RerunIds []string `json:"rerunIds"`
	Limited  bool     `json:"limited"`
}

func bulk(t *testing.T, a *apptest.App, action string, body any) bulkResult {
	t.Helper()
	var r bulkResult
	a.Do(http.MethodPost, "/api/v1/jobs/"+action, body).Data(t, &r)
	return r
}

// blocking is a function whose attempts run until they are cancelled; stopped counts the
// attempts that have returned.
func blocking(id string, stopped *atomic.Int64) *functions.Definition {
	return testFunction(id, 1, time.Hour, func(ctx context.Context, _ functions.Call, _ functions.Reporter) (any, error) {
		<-ctx.Done()
		stopped.Add(1)
		return nil, ctx.Err()
	})
}

func TestRerunStartsANewJobLikeTheTerminalOneAndLeavesItAlone(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	a := apptest.StartApp(t, apptest.Config(t, allowLoopback))
	old := a.StartJob(map[string]any{"functionId": "echo", "name": "nightly", "params": map[string]any{"n": 7},
		"actor": "alice", "gameId": "g1", "env": "prod", "maxAttempts": 3, "timeoutSeconds": 42, "callbackUrl": rcv.URL})
	a.WaitStatus(old.Id, "completed", 10*time.Second)
	testutil.Eventually(10*time.Second, func() bool { return a.GetJob(old.Id).Callback.Status == "delivered" })
	before := a.Do(http.MethodGet, "/api/v1/jobs/"+old.Id, nil).Body

	var rerun apptest.Job
	a.As(apptest.DefaultTenant, "bob").Do(http.MethodPost, "/api/v1/jobs/"+old.Id+"/rerun", nil).Data(t, &rerun)
	if rerun.Id == old.Id || rerun.RerunOf != old.Id || rerun.Status != "pending" {
		t.Fatalf("rerun: id %s rerunOf %q status %s; want a new pending job with rerunOf %s", rerun.Id, rerun.RerunOf, rerun.Status, old.Id)
	}
	got := fmt.Sprint(rerun.FunctionId, rerun.Name, string(rerun.Params), rerun.Actor, rerun.GameId, rerun.Env,
		rerun.MaxAttempts, rerun.TimeoutSeconds, rerun.CallbackUrl, rerun.TenantId)
	want := fmt.Sprint(old.FunctionId, old.Name, string(old.Params), old.Actor, old.GameId, old.Env,
		old.MaxAttempts, old.TimeoutSeconds, old.CallbackUrl, old.TenantId)
	if got != want {
		t.Errorf("rerun carries %s, want the old job's %s", got, want)
	}
	done := a.WaitStatus(rerun.Id, "completed", 10*time.Second)
	if string(done.Result) != `{"n":7}` {
		t.Errorf("rerun's result = %s, want the old params echoed", done.Result)
	}
	testutil.Eventually(10*time.Second, func() bool { return len(rcv.got()) == 2 })
	if n := len(rcv.got()); n != 2 {
		t.Errorf("callback deliveries = %d, want one per job", n)
	}
	if after := a.Do(http.MethodGet, "/api/v1/jobs/"+old.Id, nil).Body; string(after) != string(before) {
		t.Errorf("the rerun job changed:\nbefore %s\nafter  %s", before, after)
	}
	// A rerun of a rerun names its own source.
	var again apptest.Job
	a.Do(http.MethodPost, "/api/v1/jobs/"+rerun.Id+"/rerun", nil).Data(t, &again)
	if again.RerunOf != rerun.Id {
		t.Errorf("rerun of the rerun: rerunOf %q, want %s", again.RerunOf, rerun.Id)
	}
}

func TestRerunRefusesJobsThatAreNotTerminal(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	pending := a.StartJob(map[string]any{"functionId": "echo"})
	apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs/"+pending.Id+"/rerun", nil), http.StatusConflict,
		"job "+pending.Id+" is pending: only a completed, failed or cancelled job can be rerun")
	apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs/nope/rerun", nil), http.StatusBadRequest,
		`id "nope" is not a valid job id (a lowercase UUID)`)
	unknown := uuid.NewString()
	apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs/"+unknown+"/rerun", nil), http.StatusNotFound, "job "+unknown+" not found")
	if _, total := listIDs(t, a, ""); total != 1 {
		t.Errorf("jobs after refused reruns: %d, want 1", total)
	}
}

// A rerun is checked as a start of the old job's fields would be now: the function's rules
// (required params, a command's params limit) and the callback allow-list may have changed
// since. A rerun they refuse is a 409 naming the field, and a bulk rerun skips it; neither
// stores a job that could only fail.
func TestRerunChecksTheOldJobAsAStartWouldBeChecked(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, withFunctions(commandFunction("report", "report.sh", "{{params.file}}")),
		func(c *config.Config) { c.MaxBytes, c.Limits.MaxParamsBytes = 2<<20, 1<<20 }))
	db := testutil.DB(t, a.Config.MySQL.DataSource)
	stored := func(function, params, callbackURL string) string {
		id := uuid.NewString()
		testutil.Exec(t, db, "insert into jobs (id, tenant_id, function_id, status, params, error, max_attempts, callback_url, "+
			"created_at, finished_at) values (?, ?, ?, 'completed', ?, '', 1, ?, now(3), now(3))",
			id, apptest.DefaultTenant, function, params, callbackURL)
		return id
	}
	missing := stored("report", `{}`, "")
	big := stored("report", `{"file":"a","pad":"`+strings.Repeat("x", 200<<10)+`"}`, "")
	internal := stored("echo", `{}`, "http://127.0.0.1:9/hook")
	fine := stored("report", `{"file":"a"}`, "")
	for _, c := range []struct{ id, message string }{
		{missing, `params is missing file, required by function "report"`},
		{big, `params is 204821 bytes as JSON, over the limit of 131060 bytes of function "report" (a command function)`},
		{internal, "callbackUrl host 127.0.0.1 is "},
	} {
		res := a.Do(http.MethodPost, "/api/v1/jobs/"+c.id+"/rerun", nil)
		want := "job " + c.id + " cannot be rerun: " + c.message
		if code, msg, _ := res.Envelope(t); res.Status != http.StatusConflict || code != http.StatusConflict || !strings.HasPrefix(msg, want) {
			t.Errorf("rerun: %d %q, want 409 starting %q", res.Status, msg, want)
		}
	}
	r := bulk(t, a, "rerun", map[string]any{"ids": []string{missing, big, internal, fine}})
	if r.Acted != 1 || r.Skipped != 3 || !slices.Equal(r.Ids, []string{fine}) {
		t.Errorf("bulk rerun: %+v; want %s rerun and the three refused skipped", r, fine)
	}
	if n := testutil.Query[int](t, db, "select count(*) from jobs"); n != 5 {
		t.Errorf("%d jobs stored, want the 4 old ones and one rerun", n)
	}
}

func TestBulkCancelStopsRunningJobsAndSkipsFinishedOnes(t *testing.T) {
	t.Parallel()
	var stopped atomic.Int64
	const running, pending = 40, 10
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = running }), blocking("block", &stopped))
	done := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(done.Id, "completed", 10*time.Second)
	var ids []string
	for range running + pending {
		ids = append(ids, a.StartJob(map[string]any{"functionId": "block"}).Id)
	}
	if !testutil.Eventually(20*time.Second, func() bool {
		_, n := listIDs(t, a, "?status=running")
		return n == running
	}) {
		t.Fatalf("%d jobs never all ran", running)
	}

	r := bulk(t, a, "cancel", map[string]any{"ids": append(slices.Clone(ids), done.Id, uuid.NewString())})
	if r.Acted != running+pending || r.Skipped != 2 || len(r.Ids) != running+pending || r.Limited {
		t.Fatalf("bulk cancel: %+v; want %d acted, 2 skipped (a completed job and an unknown id)", r, running+pending)
	}
	slices.Sort(r.Ids)
	slices.Sort(ids)
	if !slices.Equal(r.Ids, ids) {
		t.Errorf("acted on %v, want %v", r.Ids, ids)
	}
	// Every function is told to stop at once: within 5 s, not at a heartbeat or lease later.
	if !testutil.Eventually(5*time.Second, func() bool { return stopped.Load() == running }) {
		t.Errorf("%d of %d running functions stopped within 5 s of the bulk cancel", stopped.Load(), running)
	}
	if _, n := listIDs(t, a, "?status=cancelled"); n != running+pending {
		t.Errorf("cancelled jobs: %d, want %d", n, running+pending)
	}
	if j := a.GetJob(done.Id); j.Status != "completed" {
		t.Errorf("the completed job became %s", j.Status)
	}
	// Again, by filter: nothing is left to cancel.
	if r := bulk(t, a, "cancel", map[string]any{"filter": map[string]any{"function_id": "block"}}); r.Acted != 0 || r.Skipped != 0 {
		t.Errorf("second bulk cancel by filter: %+v, want nothing acted on or skipped", r)
	}
}

func TestBulkRerunByFilterRerunsTerminalJobsUpToMaxBulk(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Limits.MaxBulk = 3 }))
	var failed []string
	for i := range 4 {
		failed = append(failed, a.StartJob(map[string]any{"functionId": "fail", "env": "qa", "name": fmt.Sprint("f", i)}).Id)
	}
	for _, id := range failed {
		a.WaitStatus(id, "failed", 10*time.Second)
	}
	r := bulk(t, a, "rerun", map[string]any{"filter": map[string]any{"status": "failed", "env": "qa"}})
	if r.Acted != 3 || r.Skipped != 0 || !r.Limited || len(r.RerunIds) != 3 {
		t.Fatalf("bulk rerun over MaxBulk 3: %+v; want 3 acted and limited", r)
	}
	for i, id := range r.RerunIds {
		if j := a.GetJob(id); j.RerunOf != r.Ids[i] || j.FunctionId != "fail" {
			t.Errorf("rerun %s: rerunOf %q, want %s", id, j.RerunOf, r.Ids[i])
		}
	}
	// By ids: terminal ones are rerun, a job still pending or running is skipped.
	noWork := apptest.StartApp(t, apptest.Config(t, noWorkers))
	p := noWork.StartJob(map[string]any{"functionId": "echo"})
	c := noWork.StartJob(map[string]any{"functionId": "echo"})
	noWork.Do(http.MethodPost, "/api/v1/jobs/"+c.Id+"/cancel", nil).Data(t, nil)
	r = bulk(t, noWork, "rerun", map[string]any{"ids": []string{p.Id, c.Id, c.Id}})
	if r.Acted != 1 || r.Skipped != 1 || !slices.Equal(r.Ids, []string{c.Id}) {
		t.Errorf("bulk rerun by ids: %+v; want %s rerun and the pending job skipped", r, c.Id)
	}
}

// A bulk rerun of as many jobs as a filter may take (Limits.MaxBulk) answers within its route
// timeout, each job rerun once. Rerun one start at a time, it took 2-3 ms a job (20 s and more
// for these): the client got a 503 while the reruns went on, and its retry reran every job again.
func TestBulkRerunOfMaxBulkJobsRerunsEachOnce(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	db := testutil.DB(t, a.Config.MySQL.DataSource)
	n := a.Config.Limits.MaxBulk
	testutil.Exec(t, db, fmt.Sprintf("insert into jobs (id, tenant_id, function_id, status, params, error, max_attempts, "+
		"created_at, finished_at) select uuid(), ?, 'echo', 'completed', '{}', '', 1, now(3), now(3) from seq_1_to_%d", n),
		apptest.DefaultTenant)
	began := time.Now()
	res := a.Do(http.MethodPost, "/api/v1/jobs/rerun", map[string]any{"filter": map[string]any{"status": "completed"}})
	t.Logf("bulk rerun of %d jobs answered %d after %s", n, res.Status, time.Since(began).Round(time.Millisecond))
	var r bulkResult
	res.Data(t, &r)
	if r.Acted != n || r.Limited || int64(len(r.RerunIds)) != n {
		t.Fatalf("bulk rerun of %d jobs: acted %d, limited %v", n, r.Acted, r.Limited)
	}
	if got := testutil.Query[int64](t, db, "select count(distinct rerun_of) from jobs where rerun_of <> ''"); got != n {
		t.Fatalf("%d jobs were rerun, want %d", got, n)
	}
}

// A bulk rerun of jobs whose params add up to more than one statement may carry (MariaDB's
// max_allowed_packet, 16 MiB here) writes them in several statements, each job once.
func TestBulkRerunOfJobsWithLargeParamsRerunsEachOnce(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	db := testutil.DB(t, a.Config.MySQL.DataSource)
	const n = 300 // of 60 KiB params each: 18 MiB
	testutil.Exec(t, db, fmt.Sprintf("insert into jobs (id, tenant_id, function_id, status, params, error, max_attempts, "+
		"created_at, finished_at) select uuid(), ?, 'echo', 'completed', concat('{\"pad\":\"', repeat('x', 60000), '\"}'), '', 1, "+
		"now(3), now(3) from seq_1_to_%d", n), apptest.DefaultTenant)
	var r bulkResult
	a.Do(http.MethodPost, "/api/v1/jobs/rerun", map[string]any{"filter": map[string]any{"status": "completed"}}).Data(t, &r)
	if r.Acted != n || len(r.RerunIds) != n {
		t.Fatalf("bulk rerun of %d jobs with large params: acted %d", n, r.Acted)
	}
	if got := testutil.Query[int64](t, db, "select count(distinct rerun_of) from jobs where rerun_of <> '' and length(params) > 60000"); got != n {
		t.Fatalf("%d jobs were rerun with their params, want %d", got, n)
	}
}

func TestBulkActionsRefuseBadRequestsNamingTheField(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	many := make([]string, 1001)
	for i := range many {
		many[i] = uuid.NewString()
	}
	for _, action := range []string{"cancel", "rerun"} {
		for _, c := range []struct {
			body    any
			status  int
			message string
		}{
			{map[string]any{}, 400, "ids or filter is required"},
			{map[string]any{"ids": []string{}}, 400, "ids or filter is required"},
			{map[string]any{"ids": []string{uuid.NewString()}, "filter": map[string]any{}}, 400, "give either ids or filter, not both"},
			{map[string]any{"ids": many}, 400, "ids names 1001 jobs; at most 1000 are allowed"},
			{map[string]any{"ids": []string{uuid.NewString(), "x"}}, 400, `ids[1]: "x" is not a valid job id (a lowercase UUID)`},
			{map[string]any{"filter": map[string]any{"status": "done"}}, 400,
				`filter.status "done" is not one of pending, running, completed, failed, cancelled`},
			{map[string]any{"filter": map[string]any{"created_from": "yesterday"}}, 400,
				`filter.created_from must be an RFC 3339 time (2026-11-21T10:00:00Z) or Unix milliseconds, not "yesterday"`},
			{map[string]any{"filter": map[string]any{"tenant_id": "tenant-b"}}, 403,
				"filter.tenant_id: only an admin token may name another tenant than the token's (tenant-a)"},
			{map[string]any{"filter": map[string]any{"tenant_id": "no spaces"}}, 400,
				"filter.tenant_id: tenant must be 1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"},
		} {
			t.Run(action, func(t *testing.T) {
				apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs/"+action, c.body), c.status, c.message)
			})
		}
		res := a.Do(http.MethodPost, "/api/v1/jobs/"+action, `{"ids": "x"}`)
		if code, msg, _ := res.Envelope(t); res.Status != 400 || code != 400 || !strings.Contains(msg, "ids") {
			t.Errorf("%s with ids a string: %d %q, want a 400 naming ids", action, res.Status, msg)
		}
	}
}

func TestAdminTokensSeeAndActOnEveryTenantOrdinaryTokensOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	b := a.As("tenant-b", "bob")
	admin := a.AsAdmin("ops", "olga")
	mine := a.StartJob(map[string]any{"functionId": "echo"})
	theirs := []string{b.StartJob(map[string]any{"functionId": "echo"}).Id, b.StartJob(map[string]any{"functionId": "echo"}).Id}

	if ids, total := listIDs(t, admin, ""); total != 3 || !slices.Equal(ids, []string{theirs[1], theirs[0], mine.Id}) {
		t.Errorf("admin lists %v total %d, want every tenant's 3 jobs newest first", ids, total)
	}
	if ids, total := listIDs(t, admin, "?tenant_id=tenant-b"); total != 2 || !slices.Equal(ids, []string{theirs[1], theirs[0]}) {
		t.Errorf("admin lists tenant-b: %v total %d, want %v", ids, total, theirs)
	}
	if ids, total := callIDs(t, admin, "?tenant_id=tenant-a"); total != 1 || ids[0] != mine.Id {
		t.Errorf("admin function-calls of tenant-a: %v total %d", ids, total)
	}
	// An ordinary token lists as before, may name its own tenant, and no other.
	if ids, total := listIDs(t, b, "?tenant_id=tenant-b"); total != 2 || !slices.Equal(ids, []string{theirs[1], theirs[0]}) {
		t.Errorf("tenant-b lists its own tenant_id: %v total %d", ids, total)
	}
	for _, path := range []string{"/api/v1/jobs?tenant_id=tenant-a", "/api/v1/function-calls?tenant_id=tenant-a"} {
		apiCheckError(t, b.Do(http.MethodGet, path, nil), http.StatusForbidden,
			"tenant_id: only an admin token may name another tenant than the token's (tenant-b)")
	}

	// Every single-job route: the admin reaches tenant-b's job, tenant-a gets the 404 it always got.
	for _, route := range [][2]string{
		{http.MethodGet, "/api/v1/jobs/%s"},
		{http.MethodGet, "/api/v1/jobs/%s/result"},
		{http.MethodGet, "/api/v1/function-calls/%s"},
		{http.MethodPost, "/api/v1/jobs/%s/cancel"},
		{http.MethodPost, "/api/v1/jobs/%s/rerun"},
	} {
		path := fmt.Sprintf(route[1], theirs[0])
		apiCheckError(t, a.Do(route[0], path, nil), http.StatusNotFound, "job "+theirs[0]+" not found")
		if res := admin.Do(route[0], path, nil); res.Status != http.StatusOK {
			t.Errorf("admin %s %s: %d %s", route[0], path, res.Status, res.Body)
		}
	}
	// The admin's rerun of tenant-b's cancelled job stays in tenant-b.
	if _, total := listIDs(t, b, "?status=pending"); total != 2 {
		t.Errorf("tenant-b's pending jobs after the admin's cancel and rerun: %d, want 2 (its other job and the rerun)", total)
	}
	stream := admin.Do(http.MethodGet, "/api/v1/jobs/"+theirs[0]+"/stream", nil)
	if stream.Status != http.StatusOK || !strings.Contains(string(stream.Body), "event: done") {
		t.Errorf("admin's stream of tenant-b's cancelled job: %d %s", stream.Status, stream.Body)
	}

	// Bulk by ids: an ordinary token acts on its own tenant's jobs only.
	if r := bulk(t, a, "cancel", map[string]any{"ids": []string{mine.Id, theirs[1]}}); r.Acted != 1 || r.Skipped != 1 || r.Ids[0] != mine.Id {
		t.Errorf("tenant-a's bulk cancel of its job and tenant-b's: %+v", r)
	}
	if j := b.GetJob(theirs[1]); j.Status != "pending" {
		t.Errorf("tenant-a's bulk cancel reached tenant-b's job: %s", j.Status)
	}
	if r := bulk(t, admin, "cancel", map[string]any{"filter": map[string]any{"tenant_id": "tenant-b"}}); r.Acted != 2 {
		t.Errorf("admin's bulk cancel of tenant-b: %+v, want 2 (its job and the rerun)", r)
	}
	if r := bulk(t, admin, "rerun", map[string]any{"filter": map[string]any{}}); r.Acted != 4 {
		t.Errorf("admin's bulk rerun of every tenant: %+v, want 4", r)
	}

	// A role this service does not know is refused, not read as an ordinary token.
	res := a.WithToken(sign(t, a.Config.Auth.AccessSecret, jwt.MapClaims{"tenant": "tenant-a", "role": "root", "exp": time.Now().Add(time.Hour).Unix()})).Do(http.MethodGet, "/api/v1/jobs", nil)
	apiCheckError(t, res, http.StatusUnauthorized, `the access token's role claim must be "admin" or absent, not root`)
}

func TestRetentionDeletesFinishedJobsAndTheirEventsButWaitsForCallbacks(t *testing.T) {
	t.Parallel()
	var hold atomic.Bool
	hold.Store(true)
	rcv := newReceiver(t, func(int) int {
		if hold.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	c := apptest.Config(t, allowLoopback, func(c *config.Config) {
		c.Retention.Completed, c.Retention.Failed, c.Retention.Cancelled = time.Second, time.Second, time.Second
		c.Retention.Interval, c.Retention.BatchSize = 100*time.Millisecond, 3
		c.Callbacks.MaxAttempts = 100
	})
	a := apptest.StartApp(t, c)
	db := testutil.DB(t, c.MySQL.DataSource)
	rdb := testutil.Redis(t)
	keys := func() []string {
		var all []string
		iter := rdb.Scan(context.Background(), 0, c.Redis.Prefix+":*", 1000).Iterator()
		for iter.Next(context.Background()) {
			all = append(all, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(all)
		return all
	}
	rows := func() int64 { return testutil.Query[int64](t, db, "select count(*) from jobs") }
	// The tenant's keys (its event log) and the queue's stay: a warm-up job makes them, and
	// retention takes its own keys away.
	warm := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(warm.Id, "completed", 10*time.Second)
	// Its row goes first, then its keys.
	if !testutil.Eventually(20*time.Second, func() bool {
		return rows() == 0 && !slices.ContainsFunc(keys(), func(k string) bool { return strings.Contains(k, warm.Id) })
	}) {
		t.Fatalf("the warm-up job was never pruned: %d rows, keys %v", rows(), keys())
	}
	baseline := keys()

	var ids []string
	for range 10 {
		ids = append(ids, a.StartJob(map[string]any{"functionId": "echo"}).Id)
		ids = append(ids, a.StartJob(map[string]any{"functionId": "fail"}).Id)
	}
	pending := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 600}})
	a.Do(http.MethodPost, "/api/v1/jobs/"+pending.Id+"/cancel", nil).Data(t, nil)
	called := a.StartJob(map[string]any{"functionId": "echo", "callbackUrl": rcv.URL})
	ids = append(ids, pending.Id, called.Id)
	// Everything but the job whose callback is pending goes.
	if !testutil.Eventually(30*time.Second, func() bool { return rows() == 1 }) {
		t.Fatalf("%d jobs left after their retention, want only the one whose callback is pending", rows())
	}
	if j := a.GetJob(called.Id); j.Status != "completed" || j.Callback.Status != "pending" || j.Callback.Attempts < 1 {
		t.Fatalf("the job kept: %+v callback %+v", j, j.Callback)
	}
	time.Sleep(1500 * time.Millisecond) // past its retention, and more than 10 pruning passes
	if rows() != 1 {
		t.Fatal("a job whose callback was pending was pruned")
	}
	hold.Store(false)
	if !testutil.Eventually(30*time.Second, func() bool { return rows() == 0 }) {
		t.Fatal("the job was not pruned once its callback was delivered")
	}
	if !testutil.Eventually(10*time.Second, func() bool { return slices.Equal(keys(), baseline) }) {
		t.Errorf("Redis keys after pruning:\n%v\nbefore the test's jobs:\n%v", keys(), baseline)
	}
	for _, k := range keys() {
		for _, id := range ids {
			if strings.Contains(k, id) {
				t.Errorf("key %s of pruned job %s is left", k, id)
			}
		}
	}
	apiCheckError(t, a.Do(http.MethodGet, "/api/v1/jobs/"+ids[0], nil), http.StatusNotFound, "job "+ids[0]+" not found")
}

func TestRetentionZeroKeepsJobsOfThatStatusForever(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) {
		c.Retention.Completed, c.Retention.Failed, c.Retention.Cancelled = 0, time.Second, 0
		c.Retention.Interval = 100 * time.Millisecond
	})
	a := apptest.StartApp(t, c)
	kept := a.StartJob(map[string]any{"functionId": "echo"})
	gone := a.StartJob(map[string]any{"functionId": "fail"})
	a.WaitStatus(kept.Id, "completed", 10*time.Second)
	a.WaitStatus(gone.Id, "failed", 10*time.Second)
	if !testutil.Eventually(20*time.Second, func() bool {
		return a.Do(http.MethodGet, "/api/v1/jobs/"+gone.Id, nil).Status == http.StatusNotFound
	}) {
		t.Fatal("the failed job was not pruned after its 1 s retention")
	}
	if j := a.GetJob(kept.Id); j.Status != "completed" {
		t.Errorf("the completed job (retention 0): %+v", j)
	}
}

// A worker process on the fewest MySQL connections the config takes runs jobs while it
// prunes: a retention pass holds one connection for its lock while it deletes on another (on
// one connection, the pass waited for itself and every query of the process behind it).
func TestRetentionOnTheFewestConnectionsTheConfigTakes(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) {
		c.MySQL.MaxOpenConns = 2 // MySQLConf.MaxOpenConns's range
		c.Retention.Completed, c.Retention.Interval = time.Second, 100*time.Millisecond
	}))
	first := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(first.Id, "completed", 10*time.Second)
	if !testutil.Eventually(20*time.Second, func() bool {
		return a.Do(http.MethodGet, "/api/v1/jobs/"+first.Id, nil).Status == http.StatusNotFound
	}) {
		t.Fatal("the completed job was not pruned after its 1 s retention")
	}
	a.WaitStatus(a.StartJob(map[string]any{"functionId": "echo"}).Id, "completed", 10*time.Second)
}

// TestBulkCancelOfTenThousandRunningJobs is issue 12's figure: one bulk cancel of 10,000
// running jobs stops every function within 5 s. It runs 10,000 functions at once, so it runs
// only with JOBS_BULK_BENCH=1 (make bench-bulk; docs/BENCHMARKS.md, "Bulk cancel").
func TestBulkCancelOfTenThousandRunningJobs(t *testing.T) {
	if os.Getenv("JOBS_BULK_BENCH") == "" {
		t.Skip("set JOBS_BULK_BENCH=1 (make bench-bulk) to run 10,000 functions at once")
	}
	const n = 10_000
	var stopped atomic.Int64
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) {
		c.Worker.Concurrency, c.Worker.BatchSize = n, 1000
		c.Worker.Heartbeat, c.Worker.Lease = 5*time.Second, time.Minute
		c.MySQL.MaxOpenConns = 32
		c.Limits.MaxBulk, c.Limits.ExactTotalUpTo = n, 2*n
	}), blocking("block", &stopped))
	began := time.Now()
	var wg sync.WaitGroup
	starts := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			for range starts {
				if res := a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "block"}); res.Status != http.StatusOK {
					t.Errorf("start: %d %s", res.Status, res.Body)
				}
			}
		})
	}
	for range n {
		starts <- struct{}{}
	}
	close(starts)
	wg.Wait()
	if !testutil.Eventually(5*time.Minute, func() bool {
		_, running := listIDs(t, a, "?status=running&size=1")
		return running == n
	}) {
		t.Fatalf("%d jobs never all ran", n)
	}
	t.Logf("%d jobs started and running after %s", n, time.Since(began).Round(time.Second))

	began = time.Now()
	r := bulk(t, a, "cancel", map[string]any{"filter": map[string]any{"function_id": "block"}})
	answered := time.Since(began)
	if r.Acted != n || r.Limited {
		t.Fatalf("bulk cancel: acted %d skipped %d limited %v, want %d", r.Acted, r.Skipped, r.Limited, n)
	}
	ok := testutil.Eventually(time.Minute, func() bool { return stopped.Load() == n })
	all := time.Since(began)
	t.Logf("bulk cancel of %d running jobs: answered in %s, every function stopped after %s", n,
		answered.Round(time.Millisecond), all.Round(time.Millisecond))
	if !ok || all > 5*time.Second {
		t.Errorf("%d of %d functions stopped, the last after %s; want all within 5 s", stopped.Load(), n, all)
	}
}

// A bulk filter with a key the list does not have (a typo) is a 400 naming it, and touches
// no job: the unknown key used to be dropped, leaving a filter that matched every job.
func TestBulkFilterWithAnUnknownKeyActsOnNothing(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	ids := []string{a.StartJob(map[string]any{"functionId": "echo"}).Id, a.StartJob(map[string]any{"functionId": "echo"}).Id}
	for _, action := range []string{"cancel", "rerun"} {
		apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs/"+action, map[string]any{"filter": map[string]any{"stauts": "pending"}}),
			400, `unknown field "filter.stauts" (did you mean status?)`)
	}
	for _, id := range ids {
		if j := a.GetJob(id); j.Status != "pending" {
			t.Errorf("job %s is %s after refused bulk actions, want pending", id, j.Status)
		}
	}
	if _, n := listIDs(t, a, ""); n != int64(len(ids)) {
		t.Errorf("%d jobs after refused bulk reruns, want %d", n, len(ids))
	}
}

// schedule_id, one of the list's filters, is one of the bulk filter's too: a bulk cancel by
// schedule cancels that schedule's jobs and no other.
func TestBulkCancelByScheduleCancelsOnlyItsJobs(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	for _, id := range []string{"tick", "tock"} {
		a.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": id, "cron": "0 0 1 1 *", "functionId": "echo",
			"params": map[string]any{"k": id}}).Data(t, nil)
	}
	var tick []string
	for range 2 {
		var j scheduledJob
		a.Do(http.MethodPost, "/api/v1/schedules/tick/trigger", nil).Data(t, &j)
		tick = append(tick, j.Id)
	}
	var tock scheduledJob
	a.Do(http.MethodPost, "/api/v1/schedules/tock/trigger", nil).Data(t, &tock)
	other := a.StartJob(map[string]any{"functionId": "echo"})

	r := bulk(t, a, "cancel", map[string]any{"filter": map[string]any{"schedule_id": "tick"}})
	slices.Sort(r.Ids)
	slices.Sort(tick)
	if r.Acted != 2 || !slices.Equal(r.Ids, tick) {
		t.Fatalf("bulk cancel of schedule tick: %+v, want its jobs %v", r, tick)
	}
	for _, id := range []string{tock.Id, other.Id} {
		if j := a.GetJob(id); j.Status != "pending" {
			t.Errorf("job %s of another schedule or none is %s, want pending", id, j.Status)
		}
	}
}

// A start or batch body with a key the route does not know is a 400 naming it by its path,
// and starts nothing; params keep any keys the function takes.
func TestStartWithAnUnknownKeyStartsNothing(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo", "parms": map[string]any{"a": 1}}),
		400, `unknown field "parms" (did you mean params?)`)
	apiCheckError(t, a.Do(http.MethodPost, "/api/v1/jobs/batch", map[string]any{"jobs": []map[string]any{
		{"functionId": "echo"}, {"functionId": "echo", "parms": map[string]any{}}}}),
		400, `unknown field "jobs[1].parms" (did you mean params?)`)
	if _, n := listIDs(t, a, ""); n != 0 {
		t.Errorf("%d jobs started by refused requests", n)
	}
	j := a.StartJob(map[string]any{"functionId": "echo", "params": map[string]any{"parms": 1, "any": map[string]any{"stauts": true}}})
	var params map[string]any
	if err := json.Unmarshal(j.Params, &params); err != nil || params["parms"] != 1.0 || params["any"] == nil {
		t.Errorf("params stored as %s", j.Params)
	}
}
