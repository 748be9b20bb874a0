// Package starts commits new jobs: their rows in one transaction of multi-row INSERTs, then
// their created events in one publish and the due ones on the stream in one pipelined XADD.
// Concurrent single starts are written together (group commit): up to maxWriters writes run
// at once, every request that arrives meanwhile joins the next one, and each returns only
// once its job is committed.
package starts

import (
	"context"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"go.opentelemetry.io/otel/trace"

	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/metrics"
	"jobs/internal/tracing"
	"jobs/model"
)

// commitTimeout bounds one write, unless its request may take longer (the batch and bulk
// routes' 60 s: a write of 1,000 jobs with large params on a loaded MariaDB). It no longer
// follows the request's cancellation once it begins, so a client that hangs up cannot leave
// a job committed but not on the stream.
const commitTimeout = 10 * time.Second

// maxGroup bounds the single starts written together (InsertMany cuts a group whose params
// would make one statement too big into several, in one transaction).
const maxGroup = 256

// maxWriters bounds the writes in flight at once. One alone would make every start wait for
// three round trips (INSERT, publish, XADD) of the write before it even under light load; a
// few overlap them, and each still carries what arrived while the others ran.
const maxWriters = 4

// Writer commits new jobs.
type Writer struct {
	jobs       model.JobsModel
	bus        *events.Bus
	dispatcher *dispatch.Dispatcher

	mu      sync.Mutex
	waiting []*request
	writers int // drain goroutines running
}

type request struct {
	ctx  context.Context
	job  *model.Jobs
	held *model.Jobs
	err  error
	done chan struct{}
}

// New returns a writer.
func New(jobs model.JobsModel, bus *events.Bus, d *dispatch.Dispatcher) *Writer {
	return &Writer{jobs: jobs, bus: bus, dispatcher: d}
}

// Start commits job together with the starts that arrive meanwhile, and returns the job that
// holds its place: job itself, or the job its idempotency key started first. The write of a
// group runs in the context (and so the trace) of its first start, without its cancellation.
func (w *Writer) Start(ctx context.Context, job *model.Jobs) (*model.Jobs, error) {
	r := &request{ctx: ctx, job: job, done: make(chan struct{})}
	w.mu.Lock()
	w.waiting = append(w.waiting, r)
	if w.writers < maxWriters {
		w.writers++
		go w.drain()
	}
	w.mu.Unlock()
	<-r.done
	return r.held, r.err
}

// drain writes the waiting starts, a group at a time, until none is left.
func (w *Writer) drain() {
	w.mu.Lock()
	for len(w.waiting) > 0 {
		group := w.waiting[:min(len(w.waiting), maxGroup)]
		w.waiting = w.waiting[len(group):]
		w.mu.Unlock()
		jobs := make([]*model.Jobs, len(group))
		for i, r := range group {
			jobs[i] = r.job
		}
		held, err := w.Write(group[0].ctx, jobs)
		for i, r := range group {
			if err == nil {
				r.held = held[i]
			}
			r.err = err
			close(r.done)
		}
		w.mu.Lock()
	}
	w.writers--
	w.mu.Unlock()
}

// Write commits jobs in one transaction (InsertMany) and returns, for each, the job that
// holds its place: itself, the job its tenant's idempotency key started before, or the
// earlier one of jobs with the same key. The write runs in ctx's values (its trace), not its
// cancellation, until ctx's deadline or commitTimeout, whichever is later. Created events and
// the XADD of the due jobs follow the commit; their failures are only logged (the sweep
// enqueues jobs Redis refused).
func (w *Writer) Write(ctx context.Context, jobs []*model.Jobs) ([]*model.Jobs, error) {
	deadline := time.Now().Add(commitTimeout)
	if d, ok := ctx.Deadline(); ok && d.After(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	// distinct are the jobs to insert; place[i] is the one that answers jobs[i].
	distinct := make([]*model.Jobs, 0, len(jobs))
	place := make([]int, len(jobs))
	type tenantKey struct{ tenant, key string }
	byKey := make(map[tenantKey]int)
	for i, job := range jobs {
		if job.IdempotencyKey.Valid {
			k := tenantKey{job.TenantId, job.IdempotencyKey.String}
			if first, ok := byKey[k]; ok {
				place[i] = first
				continue
			}
			byKey[k] = len(distinct)
		}
		place[i] = len(distinct)
		distinct = append(distinct, job)
	}
	held, err := w.jobs.InsertMany(ctx, distinct)
	if err != nil {
		return nil, err
	}
	var inserted []*model.Jobs
	for i, job := range distinct {
		if held[i] == job { // else its key started another job before
			inserted = append(inserted, job)
		}
	}
	Announce(ctx, w.bus, w.dispatcher, inserted...)
	out := make([]*model.Jobs, len(jobs))
	for i, p := range place {
		out[i] = held[p]
	}
	return out, nil
}

// Traced gives each of jobs, started together by the request of ctx (a batch, a bulk rerun, a
// schedule's trigger), a jobs.start span of its own, the request span's child, and stores its
// traceparent with the job, so that the worker running it continues the request's trace (a
// single start does this itself, in commitJob). end ends the spans once the jobs are written,
// each naming the job that holds its job's place (held, as Write returns them; nil after a
// failed write).
func Traced(ctx context.Context, jobs []*model.Jobs) (end func(held []*model.Jobs)) {
	spans := make([]trace.Span, len(jobs))
	for i, job := range jobs {
		var spanCtx context.Context
		spanCtx, spans[i] = tracing.StartJob(ctx, job.Id, job.FunctionId)
		job.TraceParent = tracing.Parent(spanCtx)
	}
	return func(held []*model.Jobs) {
		for i, span := range spans {
			if i < len(held) && held[i] != jobs[i] {
				tracing.SetJob(span, held[i].Id) // an idempotent replay
			}
			span.End()
		}
	}
}

// Announce counts committed jobs as started, tells their tenants (before the enqueue, so a
// tenant never hears of a worker's "running" before the job itself) and enqueues the due ones
// (a delayed job, enqueued_at NULL, waits for the scheduler). Both Redis steps may fail
// without losing a job, so failures are only logged: the sweep enqueues jobs Redis refused.
func Announce(ctx context.Context, bus *events.Bus, d *dispatch.Dispatcher, jobs ...*model.Jobs) {
	if len(jobs) == 0 {
		return
	}
	created := make([]events.Pending, len(jobs))
	var due []string
	for i, job := range jobs {
		metrics.JobStarted(job.FunctionId)
		created[i] = events.Created(job)
		if job.EnqueuedAt.Valid {
			due = append(due, job.Id)
		}
	}
	log := logx.WithContext(ctx)
	if err := bus.Publish(ctx, created...); err != nil {
		log.Errorf("%d jobs are stored; announcing them to their tenants' event streams failed: %v", len(jobs), err)
	}
	if err := d.Enqueue(ctx, due...); err != nil {
		log.Errorf("%d jobs are stored but not yet enqueued (the sweep will enqueue them): %v", len(due), err)
	}
}
