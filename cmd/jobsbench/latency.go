package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"jobs/internal/functions"
)

// probeID is the benchmark-only function the latency part registers (app.New's extra):
// it does what echo does and records when the worker invoked it.
const probeID = "jobsbench-probe"

// benchLatency starts jobs of a benchmark-only function at a steady rate on an app running
// API and workers, and measures how long each job waited between being accepted and being
// started. Two measurements:
//   - from MySQL: started_at - created_at. created_at is stamped by the API just before its
//     INSERT (Go clock, truncated to the millisecond), started_at by the claim's UPDATE
//     (MariaDB NOW(3)); same machine, same clock, 1 ms resolution.
//   - in process: from the moment the client began the POST until the worker invoked the
//     function, which records time.Now() and returns its params like echo.
func benchLatency(ctx context.Context, e *env) (row, error) {
	o := e.opts
	prefix, err := e.reset(ctx, "latency")
	if err != nil {
		return row{}, err
	}
	c, err := e.config("all", prefix)
	if err != nil {
		return row{}, err
	}
	var invoked sync.Map // job id -> time.Time the function was invoked
	probe := &functions.Definition{
		ID: probeID, Kind: "bench", Description: "jobsbench: records when it runs, returns its params.",
		Timeout: time.Minute, MaxAttempts: 1,
		Run: func(_ context.Context, call functions.Call, _ functions.Reporter) (any, error) {
			if call.Attempt == 1 {
				invoked.Store(call.JobID, time.Now())
			}
			return call.Params, nil
		},
	}
	a, err := startApp(ctx, c, probe)
	if err != nil {
		return row{}, err
	}
	defer a.stop()
	cl, err := newClient(a.URL, 64, c)
	if err != nil {
		return row{}, err
	}
	cl.function = probeID
	defer cl.close()

	warm := openLoop(ctx, cl, o.rate, time.Second)
	if warm.errors > 0 {
		return row{}, fmt.Errorf("warm-up: %d errors, first: %v", warm.errors, warm.firstErr)
	}
	logf("latency: %d jobs/s for %s", o.rate, o.latencyDuration)
	stopProfile := startProfile(o, "latency")
	cpu0 := readCPU()
	res := openLoop(ctx, cl, o.rate, o.latencyDuration)
	cpu1 := readCPU()
	stopProfile()
	if ctx.Err() != nil {
		return row{}, ctx.Err()
	}

	// Wait for every measured job to have started.
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := 0
		for id := range res.sent {
			if _, ok := invoked.Load(id); !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return row{}, fmt.Errorf("latency: %d of %d jobs not started 30 s after the last was sent", missing, len(res.sent))
		}
		time.Sleep(50 * time.Millisecond)
	}

	rows, err := e.db.QueryContext(ctx, "SELECT id, created_at, started_at FROM jobs WHERE started_at IS NOT NULL")
	if err != nil {
		return row{}, err
	}
	var dbLat, procLat []time.Duration
	negative := 0
	for rows.Next() {
		var id string
		var created, startedAt time.Time
		if err := rows.Scan(&id, &created, &startedAt); err != nil {
			rows.Close()
			return row{}, err
		}
		sent, ok := res.sent[id]
		if !ok {
			continue // warm-up job
		}
		d := startedAt.Sub(created)
		if d < 0 {
			negative++
			d = 0
		}
		dbLat = append(dbLat, d)
		if t, ok := invoked.Load(id); ok {
			procLat = append(procLat, t.(time.Time).Sub(sent))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return row{}, err
	}
	if len(dbLat) != len(res.sent) {
		return row{}, fmt.Errorf("latency: %d jobs sent but %d found started in MySQL", len(res.sent), len(dbLat))
	}
	db := summarize(dbLat)
	pr := summarize(procLat)
	post := summarize(res.latencies)
	achieved := float64(len(res.sent)) / res.elapsed.Seconds()
	r := row{
		name: "3. Enqueue→start latency",
		setup: fmt.Sprintf("`"+probeID+"` (echo plus a timestamp) at a steady %d jobs/s (open loop) for %s over HTTP, role `all`, Concurrency %d, BatchSize %d",
			o.rate, o.latencyDuration, c.Worker.Concurrency, c.Worker.BatchSize),
		result: fmt.Sprintf("**p50 %s, p99 %s** (started_at − created_at)", ms(db.p50), ms(db.p99)),
		floor:  "p99 ≤ 50 ms",
		pass:   db.p99 <= 50*time.Millisecond && res.errors == 0,
		notes: []string{
			fmt.Sprintf("%s jobs measured (after a 1 s warm-up at the same rate), achieved %.1f jobs/s, %d errors",
				thousands(int64(len(res.sent))), achieved, res.errors),
			fmt.Sprintf("MySQL started_at − created_at (1 ms resolution): mean %s, p50 %s, p90 %s, p99 %s, max %s",
				ms(db.mean), ms(db.p50), ms(db.p90), ms(db.p99), ms(db.max)),
			fmt.Sprintf("in process, client began POST → worker invoked the function: mean %s, p50 %s, p90 %s, p99 %s, max %s",
				ms(pr.mean), ms(pr.p50), ms(pr.p90), ms(pr.p99), ms(pr.max)),
			cpuUse(cpu0, cpu1),
			fmt.Sprintf("POST /api/v1/jobs latency at this rate: p50 %s, p99 %s", ms(post.p50), ms(post.p99)),
		},
	}
	if negative > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d jobs had started_at before created_at (clock rounding), counted as 0", negative))
	}
	if res.errors > 0 {
		r.notes = append(r.notes, fmt.Sprintf("first error: %v", res.firstErr))
	}
	return r, nil
}

type openResult struct {
	sent      map[string]time.Time // job id -> when its POST began
	latencies []time.Duration
	errors    int
	firstErr  error
	elapsed   time.Duration
}

// openLoop begins one POST every 1/rate seconds for d, each on its own goroutine, so a
// slow response does not delay the next start.
func openLoop(ctx context.Context, cl *client, rate int, d time.Duration) openResult {
	res := openResult{sent: make(map[string]time.Time)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	begin := time.Now()
	last := begin
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			id, err := cl.startJob(ctx)
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.errors++
				if res.firstErr == nil {
					res.firstErr = err
				}
				return
			}
			res.sent[id] = t0
			res.latencies = append(res.latencies, lat)
		}()
	}
	wg.Wait()
	// The span over which the starts were issued, counting the last one's interval.
	res.elapsed = last.Sub(begin) + interval
	return res
}
