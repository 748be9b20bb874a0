package openapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/openapi"
	"jobs/internal/testutil"
)

// The document is valid OpenAPI 3.0 and is served, without a token, as embedded.
func TestDocumentIsValidAndServed(t *testing.T) {
	t.Parallel()
	doc := load(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 })).WithToken("")
	res := a.Do(http.MethodGet, openapi.Path, nil)
	if res.Status != http.StatusOK || !bytes.Equal(res.Body, openapi.Document) ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s without a token: %d %s, %d bytes, want 200 application/json with the embedded document",
			openapi.Path, res.Status, res.Header.Get("Content-Type"), len(res.Body))
	}
	again := a.DoWith(http.MethodGet, openapi.Path, nil, http.Header{"If-None-Match": {res.Header.Get("ETag")}})
	if again.Status != http.StatusNotModified {
		t.Errorf("GET %s with its ETag: %d, want 304", openapi.Path, again.Status)
	}
}

// The service reads a route's parameters from its path, headers and query string only
// (web.Parse; a body is JSON), so the document names no form body: a client generated from
// it sent the tenant_id of an admin's schedule pause, resume, trigger or delete as one, which
// the service never read, and acted on the admin's own tenant's schedule of that id instead.
func TestTenantIDIsAQueryParameterOfEveryRouteThatTakesIt(t *testing.T) {
	t.Parallel()
	doc := load(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded") != nil {
				t.Errorf("%s %s has a form body, which the service does not read", method, path)
			}
		}
	}
	for _, route := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/schedules/{id}"},
		{http.MethodDelete, "/api/v1/schedules/{id}"},
		{http.MethodPost, "/api/v1/schedules/{id}/pause"},
		{http.MethodPost, "/api/v1/schedules/{id}/resume"},
		{http.MethodPost, "/api/v1/schedules/{id}/trigger"},
	} {
		op := doc.Paths.Find(route.path).GetOperation(route.method)
		if p := op.Parameters.GetByInAndName("query", "tenant_id"); p == nil {
			t.Errorf("%s %s has no tenant_id query parameter", route.method, route.path)
		}
	}
}

// Real answers of a running app (real MariaDB and Redis) to every route, for its success
// and each error status the document names, match the document: status, headers and body,
// with every object closed to properties the document does not name (so a field the code
// adds or renames without the document fails here), and the events of each stream, their
// names and data. Every status the document names for a route, and every event it names for
// a stream, must have been seen.
func TestAnswersMatchTheDocument(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) {
		c.Functions = append(c.Functions, config.FunctionConf{Id: "talk", Kind: "command", MaxAttempts: 1,
			Command: config.CommandConf{Argv: []string{"/bin/sh", "-c",
				`echo hello; echo oops >&2; echo "::progress 1/2 half way"; echo '::result {"ok": true}'`}}},
			config.FunctionConf{Id: "chatty", Kind: "command", MaxAttempts: 1, Command: config.CommandConf{Argv: []string{"seq", "20"}}})
		c.Events.MaxLen = 10 // talk's events are all kept, chatty's are not
		c.Schedules = []config.ScheduleConf{{Tenant: apptest.DefaultTenant, Id: "declared", Cron: "@daily", FunctionId: "echo"}}
	})
	db := testutil.DB(t, c.MySQL.DataSource)
	mysqlDSN, mysqlProxy := testutil.ThroughProxy(t, c.MySQL.DataSource)
	redisProxy := testutil.NewProxy(t, c.Redis.Addr)
	c.MySQL.DataSource, c.Redis.Addr = mysqlDSN, redisProxy.Addr()
	a := apptest.StartApp(t, c)
	v := newValidator(t, a)
	token := a.BearerToken()
	none := http.Header{}
	missing := uuid.NewString()

	// Jobs in the states the cases need.
	var echo, talk, chatty, later, hooked apptest.Job
	v.check(post("/api/v1/jobs", token, `{"functionId": "echo", "params": {"hello": "world"}, "name": "greet"}`), 200).data(&echo)
	v.check(post("/api/v1/jobs", token, `{"functionId": "talk"}`), 200).data(&talk)
	v.check(post("/api/v1/jobs", token, `{"functionId": "chatty"}`), 200).data(&chatty)
	runAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	v.check(post("/api/v1/jobs", token, `{"functionId": "echo", "runAt": "`+runAt+`"}`), 200).data(&later)
	v.check(post("/api/v1/jobs", token, `{"functionId": "echo", "callbackUrl": "https://callback.invalid/hook"}`), 200).data(&hooked)
	a.WaitStatus(echo.Id, "completed", 10*time.Second)
	a.WaitStatus(talk.Id, "completed", 10*time.Second)
	a.WaitStatus(chatty.Id, "completed", 10*time.Second)
	a.WaitJob(hooked.Id, 10*time.Second, "with a callback attempt", func(j apptest.Job) bool {
		return j.Callback != nil && j.Callback.Attempts > 0
	})

	// Start.
	v.check(post("/api/v1/jobs", token, `{"params": {}}`), 400)
	v.check(post("/api/v1/jobs", "", `{"functionId": "echo"}`), 401)
	v.check(post("/api/v1/jobs", token, `{"functionId": "echo", "params": {"x": "`+strings.Repeat("a", 70_000)+`"}}`), 413)
	// List.
	v.check(post("/api/v1/jobs/batch", token, `{"jobs": [{"functionId": "echo", "params": {"n": 1}}, {"functionId": "echo", "name": "b", "idempotencyKey": "k"}]}`), 200)
	v.check(post("/api/v1/jobs/batch", token, `{"jobs": [{"functionId": "echo"}, {"functionId": "nope"}]}`), 400)
	v.check(post("/api/v1/jobs/batch", token, `{"jobs": [{"functionId": "echo", "params": {"x": "`+strings.Repeat("a", 70_000)+`"}}]}`), 413)
	v.check(post("/api/v1/jobs/batch", "", `{"jobs": [{"functionId": "echo"}]}`), 401)
	v.check(get("/api/v1/jobs?function_id=echo&order=asc&size=10", token, none), 200)
	v.check(get("/api/v1/jobs?status=bogus", token, none), 400)
	v.check(get("/api/v1/jobs", "", none), 401)
	// Detail and result.
	for _, id := range []string{echo.Id, talk.Id, later.Id, hooked.Id} {
		v.check(get("/api/v1/jobs/"+id, token, none), 200)
		v.check(get("/api/v1/jobs/"+id+"/result?wait=0", token, none), 200)
		v.check(get("/api/v1/function-calls/"+id, token, none), 200)
	}
	for _, route := range []string{"/api/v1/jobs/%s", "/api/v1/jobs/%s/result", "/api/v1/function-calls/%s"} {
		v.check(get(fmt.Sprintf(route, "not-a-uuid"), token, none), 400)
		v.check(get(fmt.Sprintf(route, missing), token, none), 404)
		v.check(get(fmt.Sprintf(route, echo.Id), "", none), 401)
	}
	v.check(get("/api/v1/jobs/"+echo.Id+"/result?wait=forever", token, none), 400)
	// Cancel.
	v.check(post("/api/v1/jobs/"+later.Id+"/cancel", token, ""), 200)
	v.check(post("/api/v1/jobs/"+echo.Id+"/cancel", token, ""), 409)
	v.check(post("/api/v1/jobs/not-a-uuid/cancel", token, ""), 400)
	v.check(post("/api/v1/jobs/"+missing+"/cancel", token, ""), 404)
	v.check(post("/api/v1/jobs/"+echo.Id+"/cancel", "", ""), 401)
	// Rerun and bulk actions (an admin token for the other tenant's filter).
	v.check(post("/api/v1/jobs/"+echo.Id+"/rerun", token, ""), 200)
	v.check(post("/api/v1/jobs/"+hooked.Id+"/rerun", a.AsAdmin("ops", "olga").BearerToken(), ""), 200)
	var waiting apptest.Job
	v.check(post("/api/v1/jobs", token, `{"functionId": "echo", "runAt": "`+runAt+`"}`), 200).data(&waiting)
	v.check(post("/api/v1/jobs/"+waiting.Id+"/rerun", token, ""), 409)
	v.check(post("/api/v1/jobs/not-a-uuid/rerun", token, ""), 400)
	v.check(post("/api/v1/jobs/"+missing+"/rerun", token, ""), 404)
	v.check(post("/api/v1/jobs/"+hooked.Id+"/rerun", "", ""), 401)
	for _, action := range []string{"cancel", "rerun"} {
		path := "/api/v1/jobs/" + action
		v.check(post(path, token, `{"ids": ["`+echo.Id+`", "`+later.Id+`", "`+missing+`"]}`), 200)
		v.check(post(path, a.AsAdmin("ops", "olga").BearerToken(), `{"filter": {"tenant_id": "`+apptest.DefaultTenant+`", "function_id": "echo"}}`), 200)
		v.check(post(path, token, `{"ids": ["x"]}`), 400)
		v.check(post(path, token, `{"filter": {"tenant_id": "someone-else"}}`), 403)
		v.check(post(path, "", `{"ids": []}`), 401)
	}
	v.check(get("/api/v1/jobs?tenant_id=someone-else", token, none), 403)
	v.check(get("/api/v1/function-calls?tenant_id=someone-else", token, none), 403)
	// The job stream: Last-Event-ID 0 replays every kept event of the command job (log
	// lines, progress, status changes); a fresh stream of a finished job is its snapshot and
	// done; a resume from the done is a 204; one from before the kept events gets a reset.
	replay := v.check(get("/api/v1/jobs/"+talk.Id+"/stream", token, http.Header{"Last-Event-ID": {"0"}}), 200)
	v.check(get("/api/v1/jobs/"+chatty.Id+"/stream", token, http.Header{"Last-Event-ID": {"1"}}), 200)
	v.check(get("/api/v1/jobs/"+echo.Id+"/stream?access_token="+token, "", none), 200)
	if len(replay.events) == 0 {
		t.Fatal("the replayed stream has no events")
	}
	done := replay.events[len(replay.events)-1]
	v.check(get("/api/v1/jobs/"+talk.Id+"/stream", token, http.Header{"Last-Event-ID": {done.id}}), 204)
	v.check(get("/api/v1/jobs/"+talk.Id+"/stream", token, http.Header{"Last-Event-ID": {"soon"}}), 400)
	v.check(get("/api/v1/jobs/"+missing+"/stream", token, none), 404)
	v.check(get("/api/v1/jobs/"+talk.Id+"/stream", "", none), 401)
	// Functions, function calls, stats.
	v.check(get("/api/v1/functions", token, none), 200)
	v.check(get("/api/v1/functions", "", none), 401)
	v.check(get("/api/v1/function-calls?size=2&page=2", token, none), 200)
	v.check(get("/api/v1/function-calls?page=0", token, none), 400)
	v.check(get("/api/v1/function-calls", "", none), 401)
	v.check(get("/api/v1/stats", token, none), 200)
	v.check(get("/api/v1/stats", "", none), 401)
	v.check(get("/api/v1/stats?tenant_id=someone-else", token, none), 403)
	v.check(get("/api/v1/stats?tenant_id=not%20a%20tenant", a.AsAdmin("ops", "olga").BearerToken(), none), 400)
	// Schedules.
	var fired struct{ Fired int64 }
	v.check(post("/api/v1/schedules", token, `{"id": "tick", "cron": "@every 1s", "functionId": "echo", "params": {"a": 1}}`), 200)
	v.check(post("/api/v1/schedules", token, `{"id": "gone", "cron": "@hourly", "timezone": "Asia/Tokyo", "overlap": "skip", "functionId": "echo"}`), 200)
	v.check(post("/api/v1/schedules", token, `{"id": "tick", "cron": "@hourly", "functionId": "echo"}`), 409)
	v.check(post("/api/v1/schedules", token, `{"id": "bad", "cron": "@sometimes", "functionId": "echo"}`), 400)
	v.check(post("/api/v1/schedules", token, `{"id": "big", "cron": "@hourly", "functionId": "echo", "params": {"x": "`+strings.Repeat("a", 70_000)+`"}}`), 413)
	v.check(post("/api/v1/schedules", "", `{"id": "tick"}`), 401)
	if !testutil.Eventually(15*time.Second, func() bool {
		v.check(get("/api/v1/schedules/tick", token, none), 200).data(&fired)
		return fired.Fired > 0
	}) {
		t.Fatal("schedule tick did not fire within 15 s")
	}
	v.check(get("/api/v1/schedules", token, none), 200)
	v.check(get("/api/v1/schedules", "", none), 401)
	v.check(get("/api/v1/schedules?tenant_id=other", token, none), 403)
	v.check(get("/api/v1/schedules?tenant_id=no%20such", token, none), 400)
	v.check(get("/api/v1/schedules/tick?tenant_id=other", token, none), 403)
	v.check(request{method: http.MethodDelete, path: "/api/v1/schedules/tick?tenant_id=other", token: token}, 403)
	v.check(get("/api/v1/jobs?schedule_id=tick", token, none), 200)
	v.check(get("/api/v1/schedules/nope", token, none), 404)
	v.check(get("/api/v1/schedules/tick", "", none), 401)
	for _, action := range []string{"pause", "resume", "trigger"} {
		v.check(post("/api/v1/schedules/tick/"+action, token, ""), 200)
		v.check(post("/api/v1/schedules/nope/"+action, token, ""), 404)
		v.check(post("/api/v1/schedules/tick/"+action, "", ""), 401)
		v.check(post("/api/v1/schedules/tick/"+action+"?tenant_id=other", token, ""), 403)
	}
	// A schedule whose function is no longer registered cannot be triggered.
	testutil.Exec(t, db, "update `schedules` set `function_id` = 'retired' where `id` = 'gone'")
	v.check(post("/api/v1/schedules/gone/trigger", token, ""), 400)
	v.check(request{method: http.MethodDelete, path: "/api/v1/schedules/gone", token: token}, 200)
	v.check(request{method: http.MethodDelete, path: "/api/v1/schedules/gone", token: token}, 404)
	v.check(request{method: http.MethodDelete, path: "/api/v1/schedules/declared", token: token}, 409)
	v.check(request{method: http.MethodDelete, path: "/api/v1/schedules/tick", token: ""}, 401)
	// The tenant's events: a reset first, then the status and progress of a job started
	// while the stream is open.
	tenant := v.open(get("/api/v1/events?access_token="+token, "", none))
	tenant.until(t, func(evs []event) bool { return len(evs) > 0 })
	a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
	tenant.until(t, func(evs []event) bool {
		return slices.ContainsFunc(evs, func(e event) bool { return e.name == "progress" }) &&
			slices.ContainsFunc(evs, func(e event) bool { return e.name == "status" })
	})
	v.finish(tenant, 200)
	// An admin token's feed of every tenant: the same events, naming their tenant.
	everyTenant := v.open(get("/api/v1/events", a.AsAdmin("ops", "olga").BearerToken(), none))
	everyTenant.until(t, func(evs []event) bool { return len(evs) > 0 })
	a.StartJob(map[string]any{"functionId": "echo"})
	everyTenant.until(t, func(evs []event) bool {
		return slices.ContainsFunc(evs, func(e event) bool { return e.name == "status" })
	})
	v.finish(everyTenant, 200)
	v.check(get("/api/v1/events?tenant_id=someone-else", token, none), 403)
	v.check(get("/api/v1/events", token, http.Header{"Last-Event-ID": {"-1"}}), 400)
	v.check(get("/api/v1/events", "", none), 401)
	// Outside /api/v1 and the document's own route.
	v.check(get("/healthz", "", none), 200)
	v.check(get("/readyz", "", none), 200)
	v.check(get(openapi.Path, "", none), 200)

	// MySQL and Redis go away: every route that needs them is a 503 with Retry-After, and
	// readiness fails (once its kept outcome has expired).
	mysqlProxy.Cut()
	redisProxy.Cut()
	v.check(post("/api/v1/jobs", token, `{"functionId": "echo"}`), 503)
	v.check(post("/api/v1/jobs/batch", token, `{"jobs": [{"functionId": "echo"}]}`), 503)
	v.check(get("/api/v1/jobs", token, none), 503)
	v.check(get("/api/v1/jobs/"+echo.Id, token, none), 503)
	v.check(get("/api/v1/jobs/"+echo.Id+"/result", token, none), 503)
	v.check(post("/api/v1/jobs/"+echo.Id+"/cancel", token, ""), 503)
	v.check(post("/api/v1/jobs/"+echo.Id+"/rerun", token, ""), 503)
	v.check(post("/api/v1/jobs/cancel", token, `{"ids": ["`+echo.Id+`"]}`), 503)
	v.check(post("/api/v1/jobs/rerun", token, `{"ids": ["`+echo.Id+`"]}`), 503)
	v.check(get("/api/v1/jobs/"+echo.Id+"/stream", token, none), 503)
	v.check(get("/api/v1/function-calls", token, none), 503)
	v.check(get("/api/v1/function-calls/"+echo.Id, token, none), 503)
	v.check(get("/api/v1/events", token, none), 503)
	v.check(get("/api/v1/stats", token, none), 503)
	v.check(post("/api/v1/schedules", token, `{"id": "later", "cron": "@hourly", "functionId": "echo"}`), 503)
	v.check(get("/api/v1/schedules", token, none), 503)
	v.check(get("/api/v1/schedules/tick", token, none), 503)
	v.check(request{method: http.MethodDelete, path: "/api/v1/schedules/tick", token: token}, 503)
	for _, action := range []string{"pause", "resume", "trigger"} {
		v.check(post("/api/v1/schedules/tick/"+action, token, ""), 503)
	}
	if !testutil.Eventually(5*time.Second, func() bool {
		return a.WithToken("").Do(http.MethodGet, "/readyz", nil).Status == http.StatusServiceUnavailable
	}) {
		t.Fatal("/readyz did not fail within 5 s of the outage")
	}
	v.check(get("/readyz", "", none), 503)

	v.checkCoverage()
}

// An event stream's body is text to openapi3filter; its events are checked one by one.
func init() {
	openapi3filter.RegisterBodyDecoder("text/event-stream",
		func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			data, err := io.ReadAll(body)
			return string(data), err
		})
}

// load loads the embedded document and validates it.
func load(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	return doc
}

// validator checks answers of the app against the document, and remembers what it saw.
type validator struct {
	t      *testing.T
	app    *apptest.App
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool            // "GET /api/v1/jobs 200"
	events map[string]map[string]bool // operation -> event names seen on its streams
}

func newValidator(t *testing.T, app *apptest.App) *validator {
	doc := load(t)
	closeObjects(doc)
	doc.Servers = openapi3.Servers{{URL: app.URL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, app: app, doc: doc, router: router, seen: map[string]bool{}, events: map[string]map[string]bool{}}
}

// closeObjects forbids, in every schema that names its properties, the properties it does
// not name. The document itself leaves them open, since clients are to ignore new fields.
func closeObjects(doc *openapi3.T) {
	done := map[*openapi3.Schema]bool{}
	var closeSchema func(ref *openapi3.SchemaRef)
	closeSchema = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || done[ref.Value] {
			return
		}
		s := ref.Value
		done[s] = true
		if len(s.Properties) > 0 {
			no := false
			s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
		}
		for _, p := range s.Properties {
			closeSchema(p)
		}
		closeSchema(s.Items)
		for _, sub := range s.AllOf {
			closeSchema(sub)
		}
	}
	for _, s := range doc.Components.Schemas {
		closeSchema(s)
	}
}

// request is a request a case sends.
type request struct {
	method, path, token, body string
	header                    http.Header
}

func get(path, token string, header http.Header) request {
	return request{method: http.MethodGet, path: path, token: token, header: header}
}

func post(path, token, body string) request {
	return request{method: http.MethodPost, path: path, token: token, body: body}
}

// answer is a response, read to its end (a stream: as far as the test read it).
type answer struct {
	t      *testing.T
	req    *http.Request
	resp   *http.Response
	body   bytes.Buffer
	events []event
	lines  *bufio.Reader
	cancel context.CancelFunc
}

// event is one Server-Sent Event.
type event struct {
	id, name string
	data     json.RawMessage
}

// data decodes the envelope's data into v.
func (r *answer) data(v any) {
	r.t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body.Bytes(), &env); err != nil || json.Unmarshal(env.Data, v) != nil {
		r.t.Fatalf("%s %s: no data in %s", r.req.Method, r.req.URL.Path, r.body.Bytes())
	}
}

// open sends req and returns the answer with its body unread.
func (v *validator) open(req request) *answer {
	v.t.Helper()
	var body io.Reader = http.NoBody
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.t.Cleanup(cancel)
	r, err := http.NewRequestWithContext(ctx, req.method, v.app.URL+req.path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		r.Header.Set("Authorization", "Bearer "+req.token)
	}
	maps.Copy(r.Header, req.header)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		v.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	// The request again, with its body, for the validation of the request.
	r, _ = http.NewRequest(req.method, v.app.URL+req.path, strings.NewReader(req.body))
	r.Header = resp.Request.Header.Clone()
	return &answer{t: v.t, req: r, resp: resp, lines: bufio.NewReader(resp.Body), cancel: cancel}
}

// check sends req, reads the whole answer and validates it; the status must be want.
func (v *validator) check(req request, want int) *answer {
	v.t.Helper()
	a := v.open(req)
	a.until(v.t, nil)
	v.finish(a, want)
	return a
}

// until reads the answer until enough(events so far) holds, or its end if enough is nil.
// It fails the test if the answer has not got that far within 15 s.
func (a *answer) until(t *testing.T, enough func([]event) bool) {
	t.Helper()
	deadline := time.AfterFunc(15*time.Second, a.cancel)
	defer deadline.Stop()
	var ev event
	for enough == nil || !enough(a.events) {
		line, err := a.lines.ReadString('\n')
		a.body.WriteString(line)
		if err == io.EOF && enough == nil {
			return
		}
		if err != nil {
			t.Fatalf("%s %s: read after %d events: %v", a.req.Method, a.req.URL.Path, len(a.events), err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.name != "":
			a.events = append(a.events, ev)
			ev = event{}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = json.RawMessage(strings.TrimPrefix(line, "data: "))
		}
	}
}

// finish validates the request (when it succeeded: a request the service takes must be one
// the document allows), the answer so far, and a stream's events.
func (v *validator) finish(a *answer, want int) {
	v.t.Helper()
	a.cancel()
	a.resp.Body.Close()
	where := a.req.Method + " " + a.req.URL.Path
	if query := a.req.URL.Query(); len(query) > 0 {
		if query.Has("access_token") {
			query.Set("access_token", "[token]")
		}
		where += "?" + query.Encode()
	}
	if a.resp.StatusCode != want {
		v.t.Fatalf("%s: %d %s, want %d", where, a.resp.StatusCode, a.body.Bytes(), want)
	}
	route, params, err := v.router.FindRoute(a.req)
	if err != nil {
		v.t.Fatalf("%s: not in the document: %v", where, err)
	}
	op := a.req.Method + " " + route.Path
	if route.Operation.Responses.Value(strconv.Itoa(want)) == nil {
		v.t.Errorf("%s: the document names no %d answer for %s", where, want, op)
	}
	v.seen[op+" "+strconv.Itoa(want)] = true
	options := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true, MultiError: true,
		// The failing value and the path to it, without a dump of the whole schema.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}}
	in := &openapi3filter.RequestValidationInput{Request: a.req, PathParams: params, Route: route, Options: options}
	if want < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.t.Errorf("%s: the request does not match the document: %v", where, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: a.resp.StatusCode,
		Header: a.resp.Header, Options: options}
	out.SetBodyBytes(a.body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s: the answer does not match the document: %v\n%s", where, err, a.body.Bytes())
	}
	if a.resp.Header.Get("Content-Type") == "text/event-stream" {
		v.checkEvents(where, op, route.Operation, a.events)
	}
}

// checkEvents validates each event's data against the schema x-sse-events names for it.
func (v *validator) checkEvents(where, op string, operation *openapi3.Operation, evs []event) {
	v.t.Helper()
	if len(evs) == 0 {
		v.t.Errorf("%s: a stream without events", where)
	}
	declared := streamEvents(v.t, v.doc, operation)
	if v.events[op] == nil {
		v.events[op] = map[string]bool{}
	}
	for _, ev := range evs {
		schema, ok := declared[ev.name]
		if !ok {
			v.t.Errorf("%s: event %q is not in the document", where, ev.name)
			continue
		}
		v.events[op][ev.name] = true
		if _, err := strconv.ParseInt(ev.id, 10, 64); err != nil {
			v.t.Errorf("%s: event %s has id %q, not an integer", where, ev.name, ev.id)
		}
		var data any
		if err := json.Unmarshal(ev.data, &data); err != nil {
			v.t.Errorf("%s: event %s: data is not JSON: %s", where, ev.name, ev.data)
			continue
		}
		if err := schema.VisitJSON(data, openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()); err != nil {
			v.t.Errorf("%s: event %s does not match the document: %v\n%s", where, ev.name, err, ev.data)
		}
	}
}

// streamEvents returns the events the document names for an event stream, with the schema
// of each one's data.
func streamEvents(t *testing.T, doc *openapi3.T, op *openapi3.Operation) map[string]*openapi3.Schema {
	t.Helper()
	media := op.Responses.Value("200").Value.Content.Get("text/event-stream")
	if media == nil {
		t.Fatalf("%s: no text/event-stream answer", op.OperationID)
	}
	var declared map[string]struct {
		Data struct {
			Ref string `json:"$ref"`
		} `json:"data"`
	}
	raw, _ := json.Marshal(media.Extensions["x-sse-events"])
	if err := json.Unmarshal(raw, &declared); err != nil || len(declared) == 0 {
		t.Fatalf("%s: x-sse-events %s: %v", op.OperationID, raw, err)
	}
	schemas := map[string]*openapi3.Schema{}
	for name, d := range declared {
		s := doc.Components.Schemas[strings.TrimPrefix(d.Data.Ref, "#/components/schemas/")]
		if s == nil {
			t.Fatalf("%s: event %s: no schema %q", op.OperationID, name, d.Data.Ref)
		}
		schemas[name] = s.Value
	}
	return schemas
}

// checkCoverage fails the test for every answer status the document names and no case
// produced, and every stream event it names that no stream sent.
func (v *validator) checkCoverage() {
	v.t.Helper()
	for path, item := range v.doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			for status := range op.Responses.Map() {
				if status != "default" && !v.seen[name+" "+status] {
					v.t.Errorf("%s: no case answered %s, which the document names", name, status)
				}
			}
			media := op.Responses.Value("200").Value.Content.Get("text/event-stream")
			if media == nil {
				continue
			}
			for event := range streamEvents(v.t, v.doc, op) {
				if !v.events[name][event] {
					v.t.Errorf("%s: no stream sent event %s, which the document names", name, event)
				}
			}
		}
	}
}
