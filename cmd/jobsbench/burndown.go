package main

import (
	"context"
	"fmt"
	"time"

	"jobs/internal/queue"
	"jobs/internal/rediskeys"
)

// benchBurndown submits o.jobs echo jobs with no worker running, then starts a worker-role
// app and measures how long it takes to complete them all.
func benchBurndown(ctx context.Context, e *env) (row, error) {
	o := e.opts
	prefix, err := e.reset(ctx, "burndown")
	if err != nil {
		return row{}, err
	}

	// Submit through the API (role api: nothing consumes the stream yet).
	c, err := e.config("api", prefix)
	if err != nil {
		return row{}, err
	}
	mem0 := e.redisMemory(ctx)
	api, err := startApp(ctx, c)
	if err != nil {
		return row{}, err
	}
	cl, err := newClient(api.URL, o.clients, c)
	if err != nil {
		api.stop()
		return row{}, err
	}
	logf("burndown: submitting %s jobs over HTTP with %d clients", thousands(int64(o.jobs)), o.clients)
	subCPU0 := readCPU()
	sub := closedLoop(ctx, cl, o.clients, time.Time{}, o.jobs)
	subCPU1 := readCPU()
	cl.close()
	api.stop()
	if ctx.Err() != nil {
		return row{}, ctx.Err()
	}
	if sub.errors > 0 {
		return row{}, fmt.Errorf("submit: %d errors, first: %v", sub.errors, sub.firstErr)
	}
	pending, err := e.count(ctx, "SELECT COUNT(*) FROM jobs WHERE status = 'pending'")
	if err != nil {
		return row{}, err
	}
	backlog, err := e.rdb.XLen(ctx, rediskeys.New(prefix).Stream()).Result()
	if err != nil {
		return row{}, err
	}
	if pending != int64(o.jobs) || backlog != int64(o.jobs) {
		return row{}, fmt.Errorf("after submitting %d jobs: %d pending rows, %d stream entries", o.jobs, pending, backlog)
	}
	if !o.firstStart {
		// A deployment whose workers ran before has the epoch marker; without it the first
		// sweep takes Redis for lost and re-enqueues every pending job (see -first-start).
		if err := queue.New(e.rdb, prefix).SetEpoch(ctx); err != nil {
			return row{}, err
		}
	}

	// Burn down.
	wc, err := e.config("worker", prefix)
	if err != nil {
		return row{}, err
	}
	logf("burndown: worker Concurrency %d, BatchSize %d", wc.Worker.Concurrency, wc.Worker.BatchSize)
	stopProfile := startProfile(o, "burndown")
	var sampler *stageSampler
	if o.stages {
		sampler = startSampler(50 * time.Millisecond)
		defer sampler.finishReport() // on the error paths
	}
	cpu0 := readCPU()
	t0 := time.Now()
	w, err := startApp(ctx, wc)
	if err != nil {
		stopProfile()
		return row{}, err
	}
	defer w.stop()

	type sample struct {
		at   time.Duration
		done int64
	}
	var samples []sample
	var pollCost time.Duration
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	deadline := t0.Add(o.timeout)
	var done int64
	dumped := false
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			stopProfile()
			return row{}, ctx.Err()
		case <-ticker.C:
		}
		q0 := time.Now()
		finished := false
		if o.countPoll || tick%10 == 0 {
			if done, err = e.count(ctx, "SELECT COUNT(*) FROM jobs WHERE status = 'completed'"); err != nil {
				stopProfile()
				return row{}, err
			}
			samples = append(samples, sample{time.Since(t0), done})
			if !dumped && done >= int64(o.jobs)/2 {
				dumped = true
				dumpGoroutines(o, "burndown")
			}
			finished = done == int64(o.jobs)
		} else {
			var left int64
			if left, err = e.count(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status IN ('pending', 'running') LIMIT 1) t"); err != nil {
				stopProfile()
				return row{}, err
			}
			if finished = left == 0; finished {
				samples = append(samples, sample{time.Since(t0), int64(o.jobs)})
			}
		}
		pollCost += time.Since(q0)
		if finished {
			break
		}
		if time.Now().After(deadline) {
			stopProfile()
			return row{}, fmt.Errorf("burndown: only %d of %d completed after %s", done, o.jobs, o.timeout)
		}
	}
	elapsed := samples[len(samples)-1].at
	cpu1 := readCPU()
	stopProfile()
	var stages []string
	if sampler != nil {
		stages = sampler.finishReport()
	}

	other, err := e.count(ctx, "SELECT COUNT(*) FROM jobs WHERE status <> 'completed'")
	if err != nil {
		return row{}, err
	}
	retried, err := e.count(ctx, "SELECT COUNT(*) FROM jobs WHERE attempt > 1")
	if err != nil {
		return row{}, err
	}
	mem1 := e.redisMemory(ctx)
	keys, perKey, err := e.countKeys(ctx, prefix, 1000)
	if err != nil {
		return row{}, err
	}
	rate := float64(o.jobs) / elapsed.Seconds()
	// Steady-state rate: between the samples nearest 10% and 90% done.
	var steady string
	var s10, s90 *sample
	for i := range samples {
		if s10 == nil && samples[i].done >= int64(o.jobs)/10 {
			s10 = &samples[i]
		}
		if s90 == nil && samples[i].done >= int64(o.jobs)*9/10 {
			s90 = &samples[i]
		}
	}
	if s10 != nil && s90 != nil && s90.at > s10.at {
		steady = fmt.Sprintf("%s jobs/s between 10%% and 90%% done", thousands(int64(float64(s90.done-s10.done)/(s90.at-s10.at).Seconds())))
	}
	var firstStart, lastFinish time.Time
	if err := e.db.QueryRowContext(ctx, "SELECT MIN(started_at), MAX(finished_at) FROM jobs").Scan(&firstStart, &lastFinish); err != nil {
		return row{}, err
	}
	span := lastFinish.Sub(firstStart)
	pollNote := "completion poll: `SELECT COUNT(*) FROM jobs WHERE status='completed'` every 100 ms (-count-poll)"
	if !o.countPoll {
		pollNote = "completion poll: every 100 ms whether any job is still pending or running (an index probe), and every 1 s `SELECT COUNT(*) FROM jobs WHERE status='completed'` for the progress figures; at the end all rows are checked to be completed"
	}
	mode := "epoch marker present (workers ran against this Redis before)"
	if o.firstStart {
		mode = "no epoch marker (first worker start on this Redis: the sweep re-enqueues every pending job)"
	}
	sub50 := summarize(sub.latencies)
	r := row{
		name: "2. Burn-down throughput",
		setup: fmt.Sprintf("%s `echo` jobs queued with no worker, then one worker-role app, Concurrency %d, BatchSize %d",
			thousands(int64(o.jobs)), wc.Worker.Concurrency, wc.Worker.BatchSize),
		result: fmt.Sprintf("**%s jobs/s** (%s in %.2f s)", thousands(int64(rate)), thousands(int64(o.jobs)), elapsed.Seconds()),
		floor:  "≥ 3,000 jobs/s",
		pass:   rate >= 3000 && other == 0,
		notes: []string{
			fmt.Sprintf("submitted over HTTP by %d closed-loop clients to a role-`api` app in %.2f s (%s jobs/s, p50 %s, p99 %s, %d requests shed and retried); that app was stopped before the worker started",
				o.clients, sub.elapsed.Seconds(), thousands(int64(float64(sub.ok)/sub.elapsed.Seconds())), ms(sub50.p50), ms(sub50.p99), sub.shed),
			"during submission: " + cpuUse(subCPU0, subCPU1),
			"Redis at worker start: " + mode,
			"during the burn-down: " + cpuUse(cpu0, cpu1),
			"during the burn-down (claim, run, finish): " + mariadbPerJob(cpu0, cpu1, o.jobs),
			"during submission (start): " + mariadbPerJob(subCPU0, subCPU1, sub.ok),
			fmt.Sprintf("timed from just before app.New of the worker app until a poll (every 100 ms) found all %s done; %s",
				thousands(int64(o.jobs)), steady),
			fmt.Sprintf("from MySQL: first claim %s after app.New began; first started_at to last finished_at %.2f s (%s jobs/s)",
				ms(firstStart.Sub(t0)), span.Seconds(), thousands(int64(float64(o.jobs)/span.Seconds()))),
			pollNote,
			fmt.Sprintf("jobs not completed at the end: %d; jobs that took more than one attempt: %d", other, retried),
			fmt.Sprintf("the completion polls spent %s waiting on MySQL in total", ms(pollCost)),
			fmt.Sprintf("Redis afterwards: %s keys under the part's prefix, %s bytes each by MEMORY USAGE (mean of 1,000), so about %.0f MiB; used_memory grew by %.0f MiB during the part (other users of this Redis count there too)",
				thousands(int64(keys)), thousands(perKey), float64(perKey)*float64(keys)/(1<<20), float64(mem1-mem0)/(1<<20)),
		},
	}
	r.notes = append(r.notes, stages...)
	return r, nil
}
