package tracing_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/trace"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
	"jobs/internal/tracing"
)

// The only test of this package: go-zero sets up one tracer provider per process.
//
// A caller that traces its own work starts a job on an API process; a separate worker
// process runs it. One trace, the caller's, holds the request, the start, the job's wait in
// the queue and its run, each span the child of the right one, with the job's id, function
// and attempt.
func TestAStartRequestsTraceContinuesIntoTheWorker(t *testing.T) {
	called := make(chan string, 1) // the traceparent the HTTP function's service got
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case called <- r.Header.Get("Traceparent"):
		default:
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(service.Close)
	api := apptest.Config(t, func(c *config.Config) {
		c.Role = "api"
		// No lease may run out on a loaded machine: a reaped attempt would be a second one.
		c.Worker.Lease, c.Worker.Heartbeat = time.Minute, time.Second
		c.Functions = []config.FunctionConf{{Id: "hook", Kind: "http", HTTP: config.HTTPConf{URL: service.URL}}}
		c.Telemetry = trace.Config{Name: "jobs-test", Sampler: 1, Batcher: "otlpgrpc"} // no Endpoint: nothing sent anywhere
	})
	worker := api
	worker.Role = "worker"
	a := apptest.StartApp(t, api) // its go-zero server starts the Telemetry agent
	tp, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	if !ok {
		t.Fatalf("Telemetry set up no SDK tracer provider, but a %T", otel.GetTracerProvider())
	}
	spans := tracetest.NewInMemoryExporter()
	tp.RegisterSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans))
	apptest.StartApp(t, worker)

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var job apptest.Job
	a.DoWith(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "hook"},
		http.Header{"Traceparent": {fmt.Sprintf("00-%s-%s-01", callerTrace, callerSpan)}}).Data(t, &job)
	a.WaitStatus(job.Id, "completed", 60*time.Second)

	byName := map[string]tracetest.SpanStub{}
	if !testutil.Eventually(60*time.Second, func() bool {
		for _, s := range spans.GetSpans() {
			byName[s.Name] = s
		}
		_, ran := byName[tracing.SpanRun]
		return ran
	}) {
		t.Fatalf("no %s span; spans: %v", tracing.SpanRun, names(spans.GetSpans()))
	}
	request, start, wait, run := byName["/api/v1/jobs"], byName[tracing.SpanStart], byName[tracing.SpanQueueWait], byName[tracing.SpanRun]
	for _, s := range []tracetest.SpanStub{request, start, wait, run} {
		if got := s.SpanContext.TraceID().String(); got != callerTrace {
			t.Errorf("span %q is in trace %s, want the caller's %s; spans: %v", s.Name, got, callerTrace, names(spans.GetSpans()))
		}
	}
	parents := []struct {
		child  tracetest.SpanStub
		parent string
	}{
		{request, callerSpan},
		{start, request.SpanContext.SpanID().String()},
		{wait, start.SpanContext.SpanID().String()},
		{run, start.SpanContext.SpanID().String()},
	}
	for _, p := range parents {
		if got := p.child.Parent.SpanID().String(); got != p.parent {
			t.Errorf("span %q has parent %s, want %s", p.child.Name, got, p.parent)
		}
	}
	wantAttrs(t, start, tracing.AttrJobID.String(job.Id), tracing.AttrFunction.String("hook"))
	for _, s := range []tracetest.SpanStub{wait, run} {
		wantAttrs(t, s, tracing.AttrJobID.String(job.Id), tracing.AttrFunction.String("hook"), tracing.AttrAttempt.Int64(1))
	}
	wantAttrs(t, run, tracing.AttrOutcome.String("completed"))
	if !wait.EndTime.Equal(run.StartTime) || wait.StartTime.After(wait.EndTime) || wait.StartTime.Before(start.StartTime.Add(-time.Second)) {
		t.Errorf("queue wait %s..%s does not lead from the start (%s) to the run (%s)",
			wait.StartTime, wait.EndTime, start.StartTime, run.StartTime)
	}

	// The start's insert is part of the trace; the statements of the background loops (claims,
	// heartbeats, outcome batches, sweeps) start no traces: only requests are roots.
	insertTraced := false
	for _, s := range spans.GetSpans() {
		if s.Name == "sql" && s.Parent.SpanID() == start.SpanContext.SpanID() {
			insertTraced = true
		}
		if !s.Parent.IsValid() && s.SpanKind != oteltrace.SpanKindServer {
			t.Errorf("span %q (%s) is the root of a trace of its own", s.Name, s.SpanKind)
		}
	}
	if !insertTraced {
		t.Errorf("no sql span under %s; spans: %v", tracing.SpanStart, names(spans.GetSpans()))
	}

	// The HTTP function's service is called within the run.
	select {
	case got := <-called:
		if want := fmt.Sprintf("00-%s-%s-01", callerTrace, run.SpanContext.SpanID()); got != want {
			t.Errorf("the HTTP function's service got traceparent %q, want the run's %q", got, want)
		}
	default:
		t.Error("the HTTP function's service was never called")
	}

	// The trace context is stored with the job, not only carried in Redis.
	stored := testutil.Query[string](t, testutil.DB(t, api.MySQL.DataSource), "select `trace_parent` from `jobs` where `id` = ?", job.Id)
	if want := fmt.Sprintf("00-%s-%s-01", callerTrace, start.SpanContext.SpanID()); stored != want {
		t.Errorf("stored trace_parent %q, want %q", stored, want)
	}

	// Without an Endpoint nothing would receive a new trace, so a start without a caller's
	// trace records no span, yet stores an (unsampled) traceparent for its attempts.
	var untraced apptest.Job
	a.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "hook"}).Data(t, &untraced)
	a.WaitStatus(untraced.Id, "completed", 60*time.Second)
	for _, s := range spans.GetSpans() {
		for _, kv := range s.Attributes {
			if kv == tracing.AttrJobID.String(untraced.Id) {
				t.Errorf("span %q recorded for a job started without a trace, with no Endpoint to send it to", s.Name)
			}
		}
	}
	unsampled := testutil.Query[string](t, testutil.DB(t, api.MySQL.DataSource), "select `trace_parent` from `jobs` where `id` = ?", untraced.Id)
	if !strings.HasPrefix(unsampled, "00-") || !strings.HasSuffix(unsampled, "-00") {
		t.Errorf("stored trace_parent of an untraced start %q, want an unsampled W3C traceparent", unsampled)
	}
	// The routes that start jobs together or on a schedule's behalf continue their request's
	// trace too: each job gets a jobs.start span of its own, the request's child, stored as
	// its traceparent, and its attempts are that span's children.
	const batchTrace, rerunTrace, triggerTrace = "5bf92f3577b34da6a3ce929d0e0e4736", "6bf92f3577b34da6a3ce929d0e0e4736", "7bf92f3577b34da6a3ce929d0e0e4736"
	traced := func(traceID string) http.Header {
		return http.Header{"Traceparent": {fmt.Sprintf("00-%s-%s-01", traceID, callerSpan)}}
	}
	var batch struct{ Jobs []apptest.Job }
	a.DoWith(http.MethodPost, "/api/v1/jobs/batch", map[string]any{"jobs": []map[string]any{{"functionId": "hook"}, {"functionId": "hook"}}},
		traced(batchTrace)).Data(t, &batch)
	var ids []string
	for _, j := range batch.Jobs {
		a.WaitStatus(j.Id, "completed", 60*time.Second)
		ids = append(ids, j.Id)
	}
	var rerun struct{ RerunIds []string }
	a.DoWith(http.MethodPost, "/api/v1/jobs/rerun", map[string]any{"ids": ids}, traced(rerunTrace)).Data(t, &rerun)
	a.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "yearly", "cron": "0 0 1 1 *", "functionId": "hook"}).Data(t, nil)
	var triggered apptest.Job
	a.DoWith(http.MethodPost, "/api/v1/schedules/yearly/trigger", nil, traced(triggerTrace)).Data(t, &triggered)
	want := map[string]string{triggered.Id: triggerTrace}
	for _, id := range ids {
		want[id] = batchTrace
	}
	for _, id := range rerun.RerunIds {
		want[id] = rerunTrace
	}
	if len(want) != 5 {
		t.Fatalf("batch %v, reruns %v, trigger %s: want 5 jobs", ids, rerun.RerunIds, triggered.Id)
	}
	for id, traceID := range want {
		a.WaitStatus(id, "completed", 60*time.Second)
		stored := testutil.Query[string](t, testutil.DB(t, api.MySQL.DataSource), "select `trace_parent` from `jobs` where `id` = ?", id)
		if !strings.HasPrefix(stored, "00-"+traceID+"-") || !strings.HasSuffix(stored, "-01") {
			t.Errorf("job %s: stored trace_parent %q, want one in its request's trace %s", id, stored, traceID)
		}
	}
	spansOf := func(id string) map[string]tracetest.SpanStub {
		of := map[string]tracetest.SpanStub{}
		for _, s := range spans.GetSpans() {
			for _, kv := range s.Attributes {
				if kv == tracing.AttrJobID.String(id) {
					of[s.Name] = s
				}
			}
		}
		return of
	}
	if !testutil.Eventually(60*time.Second, func() bool {
		for id := range want {
			if _, ran := spansOf(id)[tracing.SpanRun]; !ran {
				return false
			}
		}
		return true
	}) {
		t.Errorf("not every job has a %s span; spans: %v", tracing.SpanRun, names(spans.GetSpans()))
	}
	for id, traceID := range want {
		of := spansOf(id)
		start, run := of[tracing.SpanStart], of[tracing.SpanRun]
		if got := start.SpanContext.TraceID().String(); got != traceID || run.SpanContext.TraceID().String() != traceID {
			t.Errorf("job %s: %s in trace %s, %s in trace %s, want both in its request's %s",
				id, tracing.SpanStart, got, tracing.SpanRun, run.SpanContext.TraceID(), traceID)
		}
		if run.Parent.SpanID() != start.SpanContext.SpanID() {
			t.Errorf("job %s: %s has parent %s, want its %s %s", id, tracing.SpanRun, run.Parent.SpanID(), tracing.SpanStart, start.SpanContext.SpanID())
		}
	}
}

func wantAttrs(t *testing.T, s tracetest.SpanStub, want ...attribute.KeyValue) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, kv := range s.Attributes {
			if kv == w {
				found = true
			}
		}
		if !found {
			t.Errorf("span %q lacks %s=%s; has %v", s.Name, w.Key, w.Value.Emit(), s.Attributes)
		}
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
