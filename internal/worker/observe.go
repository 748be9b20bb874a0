package worker

import (
	"context"
	"time"

	"jobs/internal/metrics"
	"jobs/internal/tracing"
	"jobs/model"
)

// observation is the metrics and trace of one attempt.
type observation struct {
	function string
	began    time.Time
	trace    *tracing.Attempt
}

// observe records how long a claimed job waited and starts observing its attempt; the
// returned context carries the attempt's span.
func observe(ctx context.Context, job *model.Jobs) (context.Context, *observation) {
	now := time.Now()
	due := dueSince(job)
	metrics.AttemptStarted(job.FunctionId, now.Sub(due))
	ctx, attempt := tracing.StartAttempt(ctx, job.TraceParent, job.Id, job.FunctionId, job.Attempt, due, now)
	return ctx, &observation{function: job.FunctionId, began: now, trace: attempt}
}

// dueSince is when the job became due: its run_at (a delayed job, a retry after its
// backoff), else its creation. A job handed back on shutdown or taken from a dead worker
// keeps that time, so its wait includes the attempt it lost. One handed back by workers
// without its function has a run_at moved on by each: it has waited since the first.
func dueSince(job *model.Jobs) time.Time {
	if job.UnregisteredSince.Valid {
		return job.UnregisteredSince.Time
	}
	if job.RunAt.Valid {
		return job.RunAt.Time
	}
	return job.CreatedAt
}

// end records the attempt's outcome; an abandoned attempt's outcome is discarded.
func (o *observation) end(outcome model.Outcome, abandoned bool) {
	result := metrics.OutcomeAbandoned
	switch {
	case abandoned:
	case outcome.Kind == model.OutcomeCompleted:
		result = metrics.OutcomeCompleted
	case outcome.Kind == model.OutcomeFailed:
		result = metrics.OutcomeFailed
	default:
		result = metrics.OutcomeRetry
	}
	metrics.AttemptEnded(o.function, result, time.Since(o.began))
	errMessage := ""
	if !abandoned {
		errMessage = outcome.Error
	}
	o.trace.End(result, errMessage)
}
