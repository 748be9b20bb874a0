package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/client"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/testutil"
	"jobs/model"
)

// testBundle is a real app (MariaDB, Redis, workers, HTTP on a real listener) and a client
// of it acting as apptest.DefaultTenant.
type testBundle struct {
	app *apptest.App
	c   *client.Client
	ctx context.Context
	// steps lets the "stepper" function's jobs take one step each per value sent.
	steps chan struct{}
}

func setup(t *testing.T, mutate ...func(*config.Config)) *testBundle {
	t.Helper()
	b := &testBundle{steps: make(chan struct{})}
	b.app = apptest.StartApp(t, apptest.Config(t, mutate...), stepper(b.steps))
	b.c = newClient(t, b.app.URL, b.app.BearerToken())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	b.ctx = ctx
	return b
}

func newClient(t *testing.T, url, token string) *client.Client {
	t.Helper()
	c, err := client.New(url, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stepper registers "stepper": a job of params.steps steps, each taken when the test sends
// on steps, reporting progress "step i" and logging "line i"; its result is {"steps": n}.
func stepper(steps <-chan struct{}) *functions.Definition {
	return &functions.Definition{ID: "stepper", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		Run: func(ctx context.Context, call functions.Call, report functions.Reporter) (any, error) {
			var p struct{ Steps int64 }
			if err := json.Unmarshal(call.Params, &p); err != nil {
				return nil, functions.Permanent(err)
			}
			for i := int64(1); i <= p.Steps; i++ {
				select {
				case <-steps:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				report.Progress(i, p.Steps, fmt.Sprintf("step %d", i))
				report.Log("stdout", fmt.Sprintf("line %d", i))
			}
			return map[string]int64{"steps": p.Steps}, nil
		}}
}

// step lets stepper jobs take n steps.
func (b *testBundle) step(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case b.steps <- struct{}{}:
		case <-b.ctx.Done():
			t.Fatal("no stepper job took a step")
		}
	}
}

func (b *testBundle) start(t *testing.T, req client.StartRequest) *client.JobDetail {
	t.Helper()
	job, err := b.c.Start(b.ctx, req)
	if err != nil {
		t.Fatalf("start %+v: %v", req, err)
	}
	return job
}

// wantAPIError fails the test unless err is an *Error of status matching sentinel whose
// message contains each of words.
func wantAPIError(t *testing.T, err error, sentinel error, status int, words ...string) *client.Error {
	t.Helper()
	var apiErr *client.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("want a *client.Error of %d, got %T %v", status, err, err)
	}
	if apiErr.Status != status || !errors.Is(err, sentinel) {
		t.Fatalf("want status %d matching %v, got %d: %v", status, sentinel, apiErr.Status, err)
	}
	for _, w := range words {
		if !strings.Contains(apiErr.Message, w) {
			t.Errorf("message %q does not mention %q", apiErr.Message, w)
		}
	}
	return apiErr
}

func TestNewRefusesABaseURLItCannotUse(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "127.0.0.1:8888", "ftp://host", "http://", "http://[::1"} {
		if _, err := client.New(bad, "t"); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestStartWithEveryOptionAndGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runAt := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	req := client.StartRequest{
		FunctionID: "echo", Params: map[string]any{"k": "v"}, Name: "nightly", Actor: "ops-bot",
		GameID: "g1", Env: "prod", IdempotencyKey: "nightly-1", RunAt: runAt, MaxAttempts: 3,
		TimeoutSeconds: 7, CallbackURL: "https://hooks.example.com/jobs",
	}
	before := time.Now()
	job := b.start(t, req)
	check := func(what string, job *client.JobDetail) {
		t.Helper()
		if uuid.Validate(job.ID) != nil || job.Status != client.StatusPending || job.FunctionID != "echo" ||
			job.Name != "nightly" || job.Actor != "ops-bot" || job.GameID != "g1" || job.Env != "prod" ||
			job.MaxAttempts != 3 || job.TimeoutSeconds != 7 || job.CallbackURL != req.CallbackURL ||
			job.TenantID != apptest.DefaultTenant || string(job.Params) != `{"k":"v"}` {
			t.Fatalf("%s: %+v", what, job)
		}
		if job.RunAt == nil || !job.RunAt.Equal(runAt) || job.StartedAt != nil || job.FinishedAt != nil {
			t.Fatalf("%s: runAt %v startedAt %v finishedAt %v, want runAt %v", what, job.RunAt, job.StartedAt, job.FinishedAt, runAt)
		}
		if job.CreatedAt.Before(before.Add(-time.Second)) || job.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("%s: createdAt %v is not about now", what, job.CreatedAt)
		}
		if job.Callback == nil || job.Callback.Status != "pending" {
			t.Fatalf("%s: callback %+v", what, job.Callback)
		}
	}
	check("started", job)

	again := b.start(t, req)
	if again.ID != job.ID {
		t.Fatalf("the same idempotency key started a second job: %s, then %s", job.ID, again.ID)
	}
	got, err := b.c.Get(b.ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("read back", got)

	// Without options: the token's actor, the function's attempts, no params.
	fns, err := b.c.Functions(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	echo := fns[slices.IndexFunc(fns, func(f client.Function) bool { return f.ID == "echo" })]
	plain := b.start(t, client.StartRequest{FunctionID: "echo"})
	if plain.Actor != apptest.DefaultActor || plain.MaxAttempts != echo.MaxAttempts || string(plain.Params) != "{}" || plain.RunAt != nil || plain.Callback != nil {
		t.Fatalf("plain start: %+v", plain)
	}
}

func TestStartBatchInRequestOrderAndItsBadItem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reqs := []client.StartRequest{
		{FunctionID: "echo", Name: "first", Params: map[string]int{"i": 1}},
		{FunctionID: "echo", Name: "second", IdempotencyKey: "batch-key"},
		{FunctionID: "echo", Name: "third", IdempotencyKey: "batch-key"},
	}
	jobs, err := b.c.StartBatch(b.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[0].Name != "first" || string(jobs[0].Params) != `{"i":1}` || jobs[1].Name != "second" {
		t.Fatalf("batch answered %+v", jobs)
	}
	if jobs[2].ID != jobs[1].ID {
		t.Fatalf("one idempotency key started two jobs: %s and %s", jobs[1].ID, jobs[2].ID)
	}
	for _, j := range jobs {
		if res, err := b.c.Result(b.ctx, j.ID, 30*time.Second); err != nil || res.Status != client.StatusCompleted {
			t.Fatalf("job %s of the batch: %+v, %v", j.ID, res, err)
		}
	}

	before, err := b.c.List(b.ctx, client.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.c.StartBatch(b.ctx, []client.StartRequest{{FunctionID: "echo"}, {FunctionID: "nosuch"}})
	wantAPIError(t, err, client.ErrBadRequest, http.StatusBadRequest, "jobs[1].functionId")
	after, err := b.c.List(b.ctx, client.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Total != before.Total {
		t.Fatalf("a refused batch wrote jobs: %d before, %d after", before.Total, after.Total)
	}
}

func TestResultWaitsForTheOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t)
	echo := b.start(t, client.StartRequest{FunctionID: "echo", Params: map[string]any{"n": 1}})
	res, err := b.c.Result(b.ctx, echo.ID, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != echo.ID || res.Status != client.StatusCompleted || string(res.Result) != `{"n":1}` || res.FinishedAt == nil {
		t.Fatalf("result: %+v", res)
	}

	failed := b.start(t, client.StartRequest{FunctionID: "fail", Params: map[string]any{"message": "disk full"}})
	res, err = b.c.Result(b.ctx, failed.ID, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusFailed || res.Error != "disk full" || string(res.Result) != "null" {
		t.Fatalf("result of a failed job: %+v", res)
	}

	// A job that does not end in time comes back as it is, after the wait.
	slow := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 1}})
	if res, err = b.c.Result(b.ctx, slow.ID, 0); err != nil || res.Status.Terminal() {
		t.Fatalf("result without wait: %+v, %v", res, err)
	}
	// A wait longer than one request may ask for is spread over several.
	client.SetMaxResultWait(b.c, time.Second)
	t0 := time.Now()
	res, err = b.c.Result(b.ctx, slow.ID, 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(t0); waited < 2*time.Second || res.Status.Terminal() || string(res.Result) != "null" {
		t.Fatalf("after %s: %+v", waited, res)
	}
	// It returns as soon as the job ends.
	go func() {
		select {
		case b.steps <- struct{}{}:
		case <-b.ctx.Done():
		}
	}()
	res, err = b.c.Result(b.ctx, slow.ID, 30*time.Second)
	if err != nil || res.Status != client.StatusCompleted || string(res.Result) != `{"steps":1}` {
		t.Fatalf("result once the job ended: %+v, %v", res, err)
	}
}

// refusals sends each request on a connection of its own, as to a process that closes its
// connections as it stops, and counts the requests that got no answer.
type refusals struct {
	transport http.Transport
	failed    atomic.Int64
}

func (r *refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.transport.RoundTrip(req)
	if err != nil {
		r.failed.Add(1)
	}
	return resp, err
}

// resultOutcome is what a Result call returned.
type resultOutcome struct {
	res *client.JobResult
	err error
}

// resultInBackground calls c.Result(id, wait) on its own goroutine; its outcome comes on
// the channel.
func (b *testBundle) resultInBackground(c *client.Client, id string, wait time.Duration) <-chan resultOutcome {
	got := make(chan resultOutcome, 1)
	go func() {
		res, err := c.Result(b.ctx, id, wait)
		got <- resultOutcome{res, err}
	}()
	return got
}

// untilResult waits until cond holds, while the Result call whose outcome comes on got is
// still waiting; it fails the test if Result returns first, or cond never holds.
func untilResult(t *testing.T, got <-chan resultOutcome, what string, cond func() bool) {
	t.Helper()
	var early *resultOutcome
	held := testutil.Eventually(20*time.Second, func() bool {
		select {
		case o := <-got:
			early = &o
			return true
		default:
			return cond()
		}
	})
	switch {
	case early != nil:
		t.Fatalf("Result returned before %s: %+v, %v", what, early.res, early.err)
	case !held:
		t.Fatalf("never %s", what)
	}
}

// A service that stops answers an open result wait at once with the job as it stands, and
// refuses the connections that come next until it is back (a restart in place, no load
// balancer): Result asks again, backing off, within its wait, and returns the outcome.
func TestResultRidesOutARestartOfTheService(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newFaultProxy(t, b.app.URL)
	tr := &refusals{transport: http.Transport{DisableKeepAlives: true}}
	c, err := client.New(p.URL(), b.app.BearerToken(), client.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	job := b.start(t, client.StartRequest{FunctionID: "echo", RunAt: time.Now().Add(time.Hour)}) // pending throughout
	got := b.resultInBackground(c, job.ID, 45*time.Second)
	untilResult(t, got, "the wait reached the service", func() bool { return b.app.Svc.Hub.Subscribers() == 1 })

	p.stopListening()
	b.app.Stop(context.Background()) // the open wait answers: the job, pending
	untilResult(t, got, "two requests were refused", func() bool { return tr.failed.Load() >= 2 })

	// The service is back (another process on the same database and Redis), and the job ends.
	again := apptest.StartApp(t, b.app.Config)
	p.listenAgain(again.URL)
	if _, err := newClient(t, again.URL, again.BearerToken()).Cancel(b.ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-got:
		if o.err != nil || o.res.ID != job.ID || o.res.Status != client.StatusCancelled {
			t.Fatalf("Result across the restart: %+v, %v; want the job, cancelled", o.res, o.err)
		}
	case <-b.ctx.Done():
		t.Fatal("Result never returned")
	}
}

// Behind a load balancer a restart shows as 502s, 503s with Retry-After, 504s and answers
// cut short: Result rides them out within its wait, and returns the last of them once the
// wait is over; a 4xx ends it at once.
func TestResultRetriesTransientFailuresWithinItsWait(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newFaultProxy(t, b.app.URL)
	// A connection a request: one kept alive would pass the proxy's answers by.
	c, err := client.New(p.URL(), b.app.BearerToken(),
		client.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}))
	if err != nil {
		t.Fatal(err)
	}
	job := b.start(t, client.StartRequest{FunctionID: "echo", RunAt: time.Now().Add(time.Hour)})

	p.answerNext(http.StatusBadGateway, "")
	p.answerNext(http.StatusServiceUnavailable, "Retry-After: 1\r\n")
	p.answerNext(http.StatusGatewayTimeout, "")
	p.answerRaw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":0,")
	got := b.resultInBackground(c, job.ID, 45*time.Second)
	untilResult(t, got, "the wait reached the service", func() bool { return b.app.Svc.Hub.Subscribers() == 1 })
	if _, err := b.c.Cancel(b.ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	o := <-got
	if o.err != nil || o.res.Status != client.StatusCancelled {
		t.Fatalf("Result: %+v, %v; want the job, cancelled", o.res, o.err)
	}
	conns := p.connections()
	if len(conns) != 5 {
		t.Fatalf("%d connections, want the four failed and the one that waited", len(conns))
	}
	if gap := conns[2].Sub(conns[1]); gap < 900*time.Millisecond {
		t.Fatalf("asked again %s after a 503 with Retry-After: 1", gap)
	}

	// Failures throughout: the last is returned once the wait is over, not before.
	other := b.start(t, client.StartRequest{FunctionID: "echo", RunAt: time.Now().Add(time.Hour)})
	for range 10 {
		p.answerNext(http.StatusServiceUnavailable, "Retry-After: 1\r\n")
	}
	t0 := time.Now()
	_, err = c.Result(b.ctx, other.ID, 2500*time.Millisecond)
	if took := time.Since(t0); took < 1500*time.Millisecond || took > 3500*time.Millisecond {
		t.Errorf("Result returned %s into a wait of 2.5 s", took)
	}
	wantAPIError(t, err, client.ErrUnavailable, http.StatusServiceUnavailable, "proxy says 503")
	p.forgetAnswers()

	// A refusal of the request itself is final.
	p.answerNext(http.StatusUnauthorized, "")
	t0 = time.Now()
	_, err = c.Result(b.ctx, other.ID, 30*time.Second)
	wantAPIError(t, err, client.ErrUnauthorized, http.StatusUnauthorized)
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("a 401 took %s to return", took)
	}
}

func TestCancelAndItsConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 5}})
	cancelled, err := b.c.Cancel(b.ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.ID != job.ID || cancelled.Status != client.StatusCancelled || cancelled.FinishedAt == nil {
		t.Fatalf("cancelled: %+v", cancelled)
	}
	_, err = b.c.Cancel(b.ctx, job.ID)
	wantAPIError(t, err, client.ErrConflict, http.StatusConflict, "cancelled")
	if errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("a 409 matches another sentinel: %v", err)
	}
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fns, err := b.c.Functions(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, f := range fns {
		kinds[f.ID] = f.Kind
		if f.MaxAttempts < 1 || f.TimeoutSeconds <= 0 {
			t.Errorf("function %+v", f)
		}
	}
	want := map[string]string{"echo": "builtin", "sleep": "builtin", "fail": "builtin", "stepper": "test"}
	for id, kind := range want {
		if kinds[id] != kind {
			t.Errorf("function %s: kind %q, want %q (all: %v)", id, kinds[id], kind, kinds)
		}
	}
}

func TestErrorsOfEachStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.Limits.MaxParamsBytes = 1024
		c.Events.MaxStreams = 1
	})

	_, err := b.c.Get(b.ctx, "not-a-job-id")
	wantAPIError(t, err, client.ErrBadRequest, 400, "not-a-job-id")
	_, err = b.c.Start(b.ctx, client.StartRequest{FunctionID: "nosuch"})
	wantAPIError(t, err, client.ErrBadRequest, 400, "functionId", "nosuch")
	_, err = b.c.List(b.ctx, client.ListFilter{Size: 1000})
	wantAPIError(t, err, client.ErrBadRequest, 400, "size", "1000")
	_, err = b.c.Start(b.ctx, client.StartRequest{FunctionID: "echo", Params: []int{1}})
	wantAPIError(t, err, client.ErrBadRequest, 400, "params")

	_, err = newClient(t, b.app.URL, "not.a.token").List(b.ctx, client.ListFilter{})
	wantAPIError(t, err, client.ErrUnauthorized, 401, "token")
	_, err = newClient(t, b.app.URL, "").Functions(b.ctx)
	wantAPIError(t, err, client.ErrUnauthorized, 401, "missing access token")

	missing := uuid.NewString()
	_, err = b.c.Get(b.ctx, missing)
	wantAPIError(t, err, client.ErrNotFound, 404, missing)
	_, err = b.c.Result(b.ctx, missing, time.Second)
	wantAPIError(t, err, client.ErrNotFound, 404, missing)
	_, err = b.c.Cancel(b.ctx, missing)
	wantAPIError(t, err, client.ErrNotFound, 404, missing)
	// Another tenant's job is as missing as one that does not exist.
	other := b.start(t, client.StartRequest{FunctionID: "echo"})
	_, err = newClient(t, b.app.URL, b.app.Token("tenant-b", "eve", time.Hour)).Get(b.ctx, other.ID)
	wantAPIError(t, err, client.ErrNotFound, 404, other.ID)

	_, err = b.c.Start(b.ctx, client.StartRequest{FunctionID: "echo", Params: map[string]string{"blob": strings.Repeat("x", 2000)}})
	wantAPIError(t, err, client.ErrTooLarge, 413, "params")

	// 503: this server keeps one stream open (Events.MaxStreams); a second is refused.
	held := b.start(t, client.StartRequest{FunctionID: "stepper", Params: map[string]any{"steps": 1}})
	watching := make(chan error, 1)
	go func() {
		_, err := b.c.Watch(b.ctx, held.ID, nil)
		watching <- err
	}()
	if !testutil.Eventually(10*time.Second, func() bool { return b.app.Streams.Open() == 1 }) {
		t.Fatal("the first stream never opened")
	}
	_, err = b.c.Watch(b.ctx, other.ID, nil)
	unavailable := wantAPIError(t, err, client.ErrUnavailable, 503, "Events.MaxStreams")
	if unavailable.RetryAfter < 0 {
		t.Fatalf("Retry-After %s", unavailable.RetryAfter)
	}
	b.step(t, 1)
	if err := <-watching; err != nil {
		t.Fatalf("the first watch: %v", err)
	}
}

func TestRetryAfterAndBodiesThatAreNotEnvelopes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newFaultProxy(t, b.app.URL)
	c := newClient(t, p.URL(), b.app.BearerToken())

	p.answerNext(http.StatusServiceUnavailable, "Retry-After: 7\r\n")
	_, err := c.Functions(b.ctx)
	if e := wantAPIError(t, err, client.ErrUnavailable, 503, "proxy says 503"); e.RetryAfter != 7*time.Second {
		t.Fatalf("Retry-After %s, want 7s", e.RetryAfter)
	}
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	p.answerNext(http.StatusServiceUnavailable, "Retry-After: "+at+"\r\n")
	_, err = c.Functions(b.ctx)
	if e := wantAPIError(t, err, client.ErrUnavailable, 503); e.RetryAfter < 80*time.Second || e.RetryAfter > 90*time.Second {
		t.Fatalf("Retry-After %s, want about 90s", e.RetryAfter)
	}
	p.answerRaw("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	_, err = c.Functions(b.ctx)
	wantAPIError(t, err, client.ErrUnavailable, 503, "Service Unavailable")

	// Through the proxy, calls work as usual.
	if _, err := c.Functions(b.ctx); err != nil {
		t.Fatal(err)
	}
}

// ids returns the ids of jobs, in order.
func ids(jobs []client.JobItem) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	type spec struct {
		fn, name, actor, game, env string
	}
	specs := []spec{
		{"echo", "a", "ann", "g1", "dev"},
		{"echo", "b", "bob", "g2", "prod"},
		{"fail", "c", "ann", "g2", "prod"},
		{"stepper", "d", "cid", "g1", "dev"},
	}
	var jobs []*client.JobDetail
	for _, s := range specs {
		jobs = append(jobs, b.start(t, client.StartRequest{FunctionID: s.fn, Name: s.name, Actor: s.actor, GameID: s.game, Env: s.env,
			Params: map[string]any{"steps": 1, "message": "boom"}}))
	}
	for _, j := range jobs[:3] {
		if _, err := b.c.Result(b.ctx, j.ID, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.c.Cancel(b.ctx, jobs[3].ID); err != nil {
		t.Fatal(err)
	}
	// Oldest first, as the service orders ties (creation time, then id).
	byAge := slices.Clone(jobs)
	slices.SortFunc(byAge, func(x, y *client.JobDetail) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	pick := func(keep func(j *client.JobDetail) bool, newestFirst bool) []string {
		var out []string
		for _, j := range byAge {
			if keep(j) {
				out = append(out, j.ID)
			}
		}
		if newestFirst {
			slices.Reverse(out)
		}
		return out
	}
	all := func(*client.JobDetail) bool { return true }
	a, c := jobs[0], jobs[2]
	cases := []struct {
		name   string
		filter client.ListFilter
		want   []string
	}{
		{"none", client.ListFilter{}, pick(all, true)},
		{"status", client.ListFilter{Status: client.StatusCompleted}, pick(func(j *client.JobDetail) bool { return j.FunctionID == "echo" }, true)},
		{"function", client.ListFilter{FunctionID: "fail"}, []string{c.ID}},
		{"actor", client.ListFilter{Actor: "ann"}, pick(func(j *client.JobDetail) bool { return j.Actor == "ann" }, true)},
		{"game", client.ListFilter{GameID: "g2"}, pick(func(j *client.JobDetail) bool { return j.GameID == "g2" }, true)},
		{"env", client.ListFilter{Env: "dev"}, pick(func(j *client.JobDetail) bool { return j.Env == "dev" }, true)},
		{"name", client.ListFilter{Name: "b"}, []string{jobs[1].ID}},
		{"ids", client.ListFilter{IDs: []string{a.ID, jobs[3].ID}}, pick(func(j *client.JobDetail) bool { return j == a || j == jobs[3] }, true)},
		{"created from", client.ListFilter{CreatedFrom: c.CreatedAt},
			pick(func(j *client.JobDetail) bool { return !j.CreatedAt.Before(c.CreatedAt) }, true)},
		{"created to", client.ListFilter{CreatedTo: c.CreatedAt},
			pick(func(j *client.JobDetail) bool { return j.CreatedAt.Before(c.CreatedAt) }, true)},
		{"oldest first", client.ListFilter{Order: client.OldestFirst}, pick(all, false)},
		{"newest first", client.ListFilter{Order: client.NewestFirst}, pick(all, true)},
		{"combined", client.ListFilter{Actor: "ann", Env: "prod", Status: client.StatusFailed}, []string{c.ID}},
	}
	for _, tc := range cases {
		list, err := b.c.List(b.ctx, tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := ids(list.Jobs); !slices.Equal(got, tc.want) || list.Total != int64(len(tc.want)) || list.TotalIsEstimate {
			t.Errorf("%s: got %v (total %d), want %v", tc.name, got, list.Total, tc.want)
		}
	}
	// List items carry no result, but everything else.
	list, err := b.c.List(b.ctx, client.ListFilter{IDs: []string{c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if j := list.Jobs[0]; j.Status != client.StatusFailed || j.Error == "" || j.FinishedAt == nil || j.Actor != "ann" {
		t.Fatalf("list item: %+v", j)
	}
	// The status filter refuses what is not a status.
	_, err = b.c.List(b.ctx, client.ListFilter{Status: "done"})
	wantAPIError(t, err, client.ErrBadRequest, 400, "status")
}

func TestListPagesAndIterator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var started []string
	for range 7 {
		started = append(started, b.start(t, client.StartRequest{FunctionID: "echo", GameID: "paged"}).ID)
	}
	newestFirst := slices.Clone(started)
	slices.Reverse(newestFirst) // one client starting one at a time: creation order
	f := client.ListFilter{GameID: "paged", Size: 3}

	var paged []string
	for page, wantLen := range []int{3, 3, 1} {
		f.Page = page + 1
		list, err := b.c.List(b.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Jobs) != wantLen || list.Total != 7 || list.Page != int64(page+1) || list.Size != 3 {
			t.Fatalf("page %d: %d jobs, total %d, page %d, size %d", page+1, len(list.Jobs), list.Total, list.Page, list.Size)
		}
		paged = append(paged, ids(list.Jobs)...)
	}
	if !slices.Equal(paged, newestFirst) {
		t.Fatalf("pages: %v, want %v", paged, newestFirst)
	}

	f.Page = 0
	var iterated []string
	for job, err := range b.c.ListAll(b.ctx, f) {
		if err != nil {
			t.Fatal(err)
		}
		iterated = append(iterated, job.ID)
	}
	if !slices.Equal(iterated, newestFirst) {
		t.Fatalf("ListAll: %v, want %v", iterated, newestFirst)
	}

	// Breaking out stops it.
	n := 0
	for _, err := range b.c.ListAll(b.ctx, f) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 4 {
			break
		}
	}

	// Jobs started meanwhile push the others onto later pages; none comes twice, none is missed.
	seen := map[string]int{}
	for job, err := range b.c.ListAll(b.ctx, f) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[job.ID]++; len(seen) == 1 {
			for range 2 {
				b.start(t, client.StartRequest{FunctionID: "echo", GameID: "paged"})
			}
		}
	}
	for _, id := range started {
		if seen[id] != 1 {
			t.Errorf("job %s came %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s came %d times", id, n)
		}
	}

	// An error is yielded once and ends the iteration.
	var errs []error
	for _, err := range b.c.ListAll(b.ctx, client.ListFilter{Size: 500}) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrBadRequest) {
		t.Fatalf("ListAll with a bad size: %v", errs)
	}
}

// A job that leaves the filter during a walk (a pending job cancelled, say) must not shift a
// job that still matches past the page being read: offset paging alone skipped one.
func TestListAllMissesNoJobThatLeavesTheFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	later := time.Now().Add(time.Hour) // pending throughout
	var started []string
	for range 7 {
		started = append(started, b.start(t, client.StartRequest{FunctionID: "echo", GameID: "leaving", RunAt: later}).ID)
	}
	cancelled := map[string]bool{} // by earlier passes: no longer pending when a pass begins
	for _, order := range []client.Order{client.NewestFirst, client.OldestFirst} {
		seen := map[string]int{}
		var first string
		for job, err := range b.c.ListAll(b.ctx, client.ListFilter{Status: client.StatusPending, GameID: "leaving", Size: 3, Order: order}) {
			if err != nil {
				t.Fatal(err)
			}
			if seen[job.ID]++; len(seen) == 1 {
				if _, err := b.c.Cancel(b.ctx, job.ID); err != nil { // the first job seen leaves the filter
					t.Fatal(err)
				}
				first = job.ID
			}
		}
		for _, id := range started {
			if seen[id] > 1 || seen[id] == 0 && !cancelled[id] {
				t.Errorf("%s: job %s came %d times", order, id, seen[id])
			}
		}
		cancelled[first] = true
	}
}

// Jobs can share one creation time (a batch's, to the millisecond): ListAll pages through
// them within that millisecond, each once.
func TestListAllThroughJobsOfOneMillisecond(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := time.Now().UTC().Truncate(time.Millisecond)
	rows := make([]*model.Jobs, 7)
	for i := range rows {
		rows[i] = &model.Jobs{Id: uuid.Must(uuid.NewV7()).String(), TenantId: apptest.DefaultTenant, FunctionId: "echo",
			Status: string(model.StatusPending), Params: "{}", GameId: "tied", MaxAttempts: 1, CreatedAt: created}
	}
	if _, err := b.app.Svc.Jobs.InsertMany(b.ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, order := range []client.Order{client.NewestFirst, client.OldestFirst} {
		seen := map[string]int{}
		for job, err := range b.c.ListAll(b.ctx, client.ListFilter{GameID: "tied", Size: 3, Order: order}) {
			if err != nil {
				t.Fatal(err)
			}
			seen[job.ID]++
		}
		for _, j := range rows {
			if seen[j.Id] != 1 {
				t.Errorf("%s: job %s came %d times", order, j.Id, seen[j.Id])
			}
		}
	}
}

// An admin token's list of every tenant is ordered by id, and a job's id can be drawn well
// after its creation time (a schedule's fire): ListAll must not bound it by creation time.
func TestListAllOfEveryTenantFollowsIds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	idAt := func(at time.Time) string {
		id := uuid.Must(uuid.NewV7())
		ms := at.UnixMilli()
		for i := range 6 {
			id[i] = byte(ms >> (40 - 8*i))
		}
		return id.String()
	}
	// fired: created at now, its id drawn 50 ms later; started: created 30 ms on, with its id.
	fired := &model.Jobs{Id: idAt(now.Add(50 * time.Millisecond)), TenantId: "t-sched", CreatedAt: now}
	started := &model.Jobs{Id: idAt(now.Add(30 * time.Millisecond)), TenantId: "t-api", CreatedAt: now.Add(30 * time.Millisecond)}
	for _, j := range []*model.Jobs{fired, started} {
		j.FunctionId, j.Status, j.Params, j.GameId, j.MaxAttempts = "echo", string(model.StatusPending), "{}", "skew", 1
	}
	if _, err := b.app.Svc.Jobs.InsertMany(b.ctx, []*model.Jobs{fired, started}); err != nil {
		t.Fatal(err)
	}
	admin := newClient(t, b.app.URL, b.app.AsAdmin("ops", "root").BearerToken())
	var got []string
	for job, err := range admin.ListAll(b.ctx, client.ListFilter{GameID: "skew", Size: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, job.ID)
	}
	if want := []string{fired.Id, started.Id}; !slices.Equal(got, want) {
		t.Fatalf("ListAll of every tenant: %v, want %v", got, want)
	}
}

// A walk that has begun rides out a restart of the service as Watch does: a page that meets
// a 503, a 502 or a connection cut is asked for again, backing off, and every job still comes
// once. A first page that fails is the caller's, at once.
func TestListAllRidesOutFailuresAfterItsFirstPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var started []string
	for range 5 {
		started = append(started, b.start(t, client.StartRequest{FunctionID: "echo", GameID: "walk"}).ID)
	}
	slices.Reverse(started) // newest first
	p := newFaultProxy(t, b.app.URL)
	c, err := client.New(p.URL(), b.app.BearerToken(),
		client.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}))
	if err != nil {
		t.Fatal(err)
	}
	f := client.ListFilter{GameID: "walk", Size: 2}

	var walked []string
	for job, err := range c.ListAll(b.ctx, f) {
		if err != nil {
			t.Fatalf("after %d jobs: %v", len(walked), err)
		}
		if walked = append(walked, job.ID); len(walked) == 2 {
			p.answerNext(http.StatusServiceUnavailable, "Retry-After: 1\r\n")
			p.answerNext(http.StatusBadGateway, "")
			p.answerRaw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"jobs\":[")
		}
	}
	if !slices.Equal(walked, started) {
		t.Fatalf("ListAll through failures: %v, want %v", walked, started)
	}
	if n := len(p.connections()); n < 6 {
		t.Fatalf("%d connections, want a page, three failed and the pages after", n)
	}

	p.answerNext(http.StatusServiceUnavailable, "Retry-After: 1\r\n")
	t0 := time.Now()
	var errs []error
	for _, err := range c.ListAll(b.ctx, f) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrUnavailable) || time.Since(t0) > 900*time.Millisecond {
		t.Fatalf("ListAll whose first page failed: %v after %s", errs, time.Since(t0))
	}
}
