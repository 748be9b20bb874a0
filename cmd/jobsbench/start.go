package main

import (
	"context"
	"fmt"
	"time"

	"jobs/internal/rediskeys"
)

// benchStart measures POST /api/v1/jobs: `clients` closed-loop clients for `duration`
// against an app of role api, so no worker competes with the starts.
func benchStart(ctx context.Context, e *env) (row, error) {
	return benchStarts(ctx, e, "start", e.opts.clients, 1)
}

// benchBatchStart measures POST /api/v1/jobs/batch with -per-batch jobs per request.
func benchBatchStart(ctx context.Context, e *env) (row, error) {
	return benchStarts(ctx, e, "batch", e.opts.batchClients, e.opts.perBatch)
}

// benchStarts runs `clients` closed-loop clients posting perRequest jobs per request (the
// batch route when over 1) for `duration` against an app of role api.
func benchStarts(ctx context.Context, e *env, part string, clients, perRequest int) (row, error) {
	o := e.opts
	prefix, err := e.reset(ctx, part)
	if err != nil {
		return row{}, err
	}
	c, err := e.config("api", prefix)
	if err != nil {
		return row{}, err
	}
	a, err := startApp(ctx, c)
	if err != nil {
		return row{}, err
	}
	defer a.stop()
	cl, err := newClient(a.URL, clients, c)
	if err != nil {
		return row{}, err
	}
	cl.perRequest = perRequest
	defer cl.close()

	// Warm up: open the keep-alive connections and the MySQL pool.
	warm := closedLoop(ctx, cl, clients, time.Time{}, clients*max(20/perRequest, 2))
	if warm.errors > 0 {
		return row{}, fmt.Errorf("warm-up: %d errors, first: %v", warm.errors, warm.firstErr)
	}
	before, err := e.count(ctx, "SELECT COUNT(*) FROM jobs")
	if err != nil {
		return row{}, err
	}

	logf("%s: %d clients, %d jobs per request, for %s", part, clients, perRequest, o.duration)
	stopProfile := startProfile(o, part)
	cpu0 := readCPU()
	res := closedLoop(ctx, cl, clients, time.Now().Add(o.duration), 0)
	cpu1 := readCPU()
	stopProfile()
	if ctx.Err() != nil {
		return row{}, ctx.Err()
	}

	after, err := e.count(ctx, "SELECT COUNT(*) FROM jobs")
	if err != nil {
		return row{}, err
	}
	backlog, err := e.rdb.XLen(ctx, rediskeys.New(prefix).Stream()).Result()
	if err != nil {
		return row{}, err
	}
	s := summarize(res.latencies)
	started := res.ok * perRequest
	rate := float64(started) / res.elapsed.Seconds()
	r := row{
		name: "1. Start throughput",
		setup: fmt.Sprintf("POST /api/v1/jobs `echo`, %d closed-loop clients, %s, role `api` (no workers)",
			clients, o.duration),
		result: fmt.Sprintf("**%s jobs/s**; latency p50 %s, p99 %s", thousands(int64(rate)), ms(s.p50), ms(s.p99)),
		floor:  "≥ 2,000 jobs/s",
		pass:   rate >= 2000 && res.errors == 0,
		notes: []string{
			fmt.Sprintf("%s jobs started in %.2f s, %d errors, %d requests shed (HTTP 503, retried)", thousands(int64(started)), res.elapsed.Seconds(), res.errors, res.shed),
			fmt.Sprintf("request latency: mean %s, p50 %s, p90 %s, p99 %s, max %s", ms(s.mean), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)),
			cpuUse(cpu0, cpu1),
			fmt.Sprintf("rows inserted during the run: %s; stream entries after warm-up and run: %s", thousands(after-before), thousands(backlog)),
		},
	}
	if res.errors > 0 {
		r.notes = append(r.notes, fmt.Sprintf("first error: %v", res.firstErr))
	}
	if perRequest > 1 {
		r.name = "1b. Batch start throughput"
		r.setup = fmt.Sprintf("POST /api/v1/jobs/batch, %d `echo` jobs per request, %d closed-loop clients, %s, role `api` (no workers)",
			perRequest, clients, o.duration)
		r.floor, r.pass = "≥ 10,000 jobs/s", rate >= 10000 && res.errors == 0
	}
	r.notes = append(r.notes, mariadbPerJob(cpu0, cpu1, started))
	if after-before != int64(started) {
		r.pass = false
		r.notes = append(r.notes, fmt.Sprintf("MISMATCH: %d jobs answered but %d new rows", started, after-before))
	}
	return r, nil
}
