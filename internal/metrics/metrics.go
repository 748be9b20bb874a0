// Package metrics defines the Prometheus metrics of jobs and the hooks that update them.
// They live in the default registry, which go-zero's dev server (DevServer, /metrics)
// serves next to its own HTTP metrics. Labels are bounded: function ids (fixed by the
// registry), statuses and outcomes; never job ids or tenants.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Attempt outcomes, the outcome label of jobs_attempt_duration_seconds.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
	// OutcomeRetry is a failed attempt that leaves the job pending for another.
	OutcomeRetry = "retry"
	// OutcomeAbandoned is an attempt stopped from outside: cancelled, lease lost, shutdown.
	OutcomeAbandoned = "abandoned"
)

// Buckets of the duration histograms, in seconds: from 5 ms to an hour.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

var (
	started = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "jobs_started_total",
		Help: "Jobs created (starts, batches, reruns, schedules' fires and triggers; an idempotent replay creates none), by function.",
	}, []string{"function"})
	finished = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "jobs_finished_total",
		Help: "Jobs that reached a final status (completed, failed, cancelled), by function and status.",
	}, []string{"function", "status"})
	attemptDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "jobs_attempt_duration_seconds",
		Help:    "How long attempts ran on this worker, by function and outcome (completed, failed, retry, abandoned).",
		Buckets: durationBuckets,
	}, []string{"function", "outcome"})
	queueWait = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "jobs_queue_wait_seconds",
		Help:    "Time from a job becoming due (its creation, or its runAt) to the start of an attempt, by function.",
		Buckets: durationBuckets,
	}, []string{"function"})
	running = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jobs_running",
		Help: "Attempts running on this worker process, by function.",
	}, []string{"function"})
	streams = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "jobs_streams_open",
		Help: "Event streams (SSE) open on this API process: job streams and tenant-wide ones.",
	})
	callbacks = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "jobs_callback_deliveries_total",
		Help: "Callback delivery attempts by result: delivered, retry (failed, will be tried again), failed (given up).",
	}, []string{"result"})
)

// JobStarted counts a job created by a start request.
func JobStarted(function string) { started.WithLabelValues(function).Inc() }

// JobFinished counts a job that reached a final status.
func JobFinished(function, status string) { finished.WithLabelValues(function, status).Inc() }

// AttemptStarted records a claimed job's wait and counts it running until AttemptEnded.
func AttemptStarted(function string, waited time.Duration) {
	queueWait.WithLabelValues(function).Observe(max(waited, 0).Seconds())
	running.WithLabelValues(function).Inc()
}

// AttemptEnded records an attempt that ran for took with outcome (Outcome...).
func AttemptEnded(function, outcome string, took time.Duration) {
	running.WithLabelValues(function).Dec()
	attemptDuration.WithLabelValues(function, outcome).Observe(took.Seconds())
}

// StreamOpened and StreamClosed count open event streams.
func StreamOpened() { streams.Inc() }

// StreamClosed counts an event stream closed.
func StreamClosed() { streams.Dec() }

// CallbackDelivery counts a recorded callback delivery attempt by its result: the callback
// status it left (delivered, failed) or retry.
func CallbackDelivery(result string) { callbacks.WithLabelValues(result).Inc() }
