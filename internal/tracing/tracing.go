// Package tracing carries a job's trace from its start request to every attempt: the start
// request's span (jobs.start) is stored with the job as a W3C traceparent, and the worker
// that claims the job continues that trace with a span for the time the job waited
// (jobs.queue_wait) and one for the attempt (jobs.run). Spans go to whatever tracer provider
// go-zero's Telemetry config set up; without its Endpoint, app.New samples no new trace, so
// only a caller's sampled trace records spans.
package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Span names and attribute keys, as an operator sees them in a trace.
const (
	SpanStart     = "jobs.start"
	SpanQueueWait = "jobs.queue_wait"
	SpanRun       = "jobs.run"

	AttrJobID    = attribute.Key("jobs.job_id")
	AttrFunction = attribute.Key("jobs.function")
	AttrAttempt  = attribute.Key("jobs.attempt")
	AttrOutcome  = attribute.Key("jobs.outcome")
)

const tracerName = "jobs"

// traceContext reads and writes only the W3C traceparent, whatever propagator is global:
// it is what is stored with the job.
var traceContext = propagation.TraceContext{}

// StartJob starts the jobs.start span of a start request for job jobID, a child of the
// request's span in ctx. The caller ends it.
func StartJob(ctx context.Context, jobID, function string) (context.Context, trace.Span) {
	return otel.Tracer(tracerName).Start(ctx, SpanStart,
		trace.WithAttributes(AttrJobID.String(jobID), AttrFunction.String(function)))
}

// SetJob names the job a span is about: an idempotent replay returns another job than
// the one it was started for.
func SetJob(span trace.Span, jobID string) {
	span.SetAttributes(AttrJobID.String(jobID))
}

// Parent returns the W3C traceparent of the span in ctx, to be stored with the job; "" when
// ctx has no valid span (tracing is off).
func Parent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// Within returns ctx when it carries a span; otherwise a context whose spans are never
// sampled. go-zero's sqlx starts a span for every statement, so without it each claim,
// heartbeat, outcome batch and sweep of a background loop would start a trace of its own;
// with it, only statements of a request or an attempt are traced, within their trace.
func Within(ctx context.Context) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	var traceID trace.TraceID
	var spanID trace.SpanID
	binary.BigEndian.PutUint64(traceID[:8], rand.Uint64())
	binary.BigEndian.PutUint64(traceID[8:], rand.Uint64())
	binary.BigEndian.PutUint64(spanID[:], rand.Uint64()|1) // never the invalid zero id
	// No trace flags: not sampled, so the sampler (ParentBased) drops every child.
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID}))
}

// Attempt is one attempt of a job as traced by the worker that claimed it.
type Attempt struct {
	span trace.Span
}

// StartAttempt records the wait of a claimed job from dueSince (when it became due) until
// now as a jobs.queue_wait span, and starts its jobs.run span; both are children of the
// start request's span (traceParent, as stored with the job), or roots of a trace of their
// own when the job carries none. ctx gets the run span, so what the function does is part
// of the trace.
func StartAttempt(ctx context.Context, traceParent, jobID, function string, attempt int64, dueSince, now time.Time) (context.Context, *Attempt) {
	if traceParent != "" {
		ctx = traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": traceParent})
	}
	attrs := trace.WithAttributes(AttrJobID.String(jobID), AttrFunction.String(function), AttrAttempt.Int64(attempt))
	tracer := otel.Tracer(tracerName)
	if dueSince.After(now) {
		dueSince = now
	}
	_, wait := tracer.Start(ctx, SpanQueueWait, attrs, trace.WithTimestamp(dueSince))
	wait.End(trace.WithTimestamp(now))
	ctx, run := tracer.Start(ctx, SpanRun, attrs, trace.WithTimestamp(now), trace.WithSpanKind(trace.SpanKindConsumer))
	return ctx, &Attempt{span: run}
}

// End ends the run span with the attempt's outcome (completed, failed, retry, abandoned);
// failures carry their error.
func (a *Attempt) End(outcome, errMessage string) {
	a.span.SetAttributes(AttrOutcome.String(outcome))
	if errMessage != "" {
		a.span.SetStatus(codes.Error, errMessage)
	}
	a.span.End()
}
