package main

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// scenarios are the battery, in the order it runs them. Each runs on a database and Redis
// prefix of its own with processes of its own, and must finish within its bound.
var scenarios = []struct {
	name, short string
	bound       time.Duration
	run         func(context.Context, *scene) error
}{
	{"worker SIGKILL ×3 under 5,000 jobs (2 workers + API)", "worker SIGKILL ×3", 150 * time.Second, workerKills},
	{"Redis FLUSHALL, then Redis killed and restarted empty, under load", "Redis flushed/restarted", 120 * time.Second, redisFaults},
	{"MariaDB kill -9 and restart under load", "MariaDB kill -9", 150 * time.Second, mariadbKill},
	{"SIGTERM of a worker with running jobs", "worker SIGTERM", 90 * time.Second, workerSIGTERM},
	{"API SIGKILL with 500 open streams, resumed on a second API", "API SIGKILL, 500 streams", 90 * time.Second, apiKillStreams},
}

// scene is one scenario run: its world, its result, and a clock for its log lines.
type scene struct {
	*env
	res   *result
	start time.Time
}

// logf prints one step of the scenario with the time since it began.
func (s *scene) logf(format string, args ...any) {
	fmt.Printf("   %6.1fs  %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// waitFor polls cond until it holds; it fails the scenario (and returns false) if it does
// not within limit.
func (s *scene) waitFor(ctx context.Context, what string, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.res.fail("%s: not within %s", what, limit)
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// workMs is how long job n of a scenario works: 20 to 149 ms, spread evenly.
func workMs(n int64) map[string]any { return map[string]any{"ms": 20 + n*37%130} }

// workerKills starts 5,000 jobs as fast as the API takes them, run by two worker processes
// of 32 slots; when 1,000, 2,500 and 4,000 executions have finished it SIGKILLs one of the
// workers (alternately) and starts a replacement. Recovery is measured per kill: from the
// kill until every job the recorder saw running on the killed worker has completed again.
func workerKills(ctx context.Context, s *scene) error {
	const jobs, slots = 5000, 32
	api, err := s.startJobs(ctx, "api", "api", 0)
	if err != nil {
		return err
	}
	var workers [2]*jobsProc
	for i, name := range []string{"worker-a1", "worker-b1"} {
		if workers[i], err = s.startJobs(ctx, name, "worker", slots); err != nil {
			return err
		}
	}
	st := newStarter(s.env, api.url, workFunction)
	loaded := make(chan error, 1)
	go func() { loaded <- st.run(ctx, 16, 0, jobs, nil, workMs) }()

	type kill struct {
		at      time.Time
		victim  string
		running []string
	}
	var kills []kill
	for k, after := range []int{1000, 2500, 4000} {
		if !s.waitFor(ctx, fmt.Sprintf("%d executions finished", after), time.Minute, func() bool { return s.b.rec.answered() >= after }) {
			break
		}
		victim := workers[k%2]
		running := s.b.rec.runningOn(victim.name)
		victim.kill()
		kills = append(kills, kill{at: time.Now(), victim: victim.name, running: running})
		s.logf("SIGKILL %s with %d jobs running on it (%d acknowledged so far)", victim.name, len(running), st.ackedCount())
		replacement := fmt.Sprintf("worker-%c%d", 'a'+k%2, k/2+2)
		if workers[k%2], err = s.startJobs(ctx, replacement, "worker", slots); err != nil {
			return err
		}
	}
	if err := <-loaded; err != nil {
		return err
	}
	s.logf("all %d starts acknowledged", jobs)
	rows := s.settle(ctx, st, true)
	for i, k := range kills {
		last, ok := lastFinished(rows, k.running)
		switch {
		case len(k.running) == 0:
			s.res.note("kill %d (%s): no job was running on it", i+1, k.victim)
		case !ok:
			s.res.note("kill %d (%s): %d jobs were running on it; not all of them finished", i+1, k.victim, len(k.running))
		default:
			d := max(last.Sub(k.at), 0)
			s.res.recovery = max(s.res.recovery, d)
			s.res.note("kill %d (%s): the %d jobs running on it had all completed again %s after the kill", i+1, k.victim, len(k.running), seconds(d))
		}
	}
	return nil
}

// redisFaults runs a steady load; after 300 acknowledgements and a burst it flushes Redis
// (FLUSHALL), after 900 and another burst it SIGKILLs Redis and restarts it empty 3 s
// later, and 300 acknowledgements later it stops.
func redisFaults(ctx context.Context, s *scene) error {
	l, err := s.startSteadyLoad(ctx)
	if err != nil {
		return err
	}
	defer l.end()
	type fault struct {
		what           string
		at, restoredAt time.Time
	}
	var faults []fault
	if l.reach(ctx, s, 300) {
		if err := l.burst(ctx); err != nil {
			return err
		}
		at := time.Now()
		if err := s.b.redis.flushAll(ctx); err != nil {
			return fmt.Errorf("FLUSHALL: %w", err)
		}
		faults = append(faults, fault{"FLUSHALL", at, at})
		s.logf("FLUSHALL (%d acknowledged so far)", l.ackedCount())
	}
	if l.reach(ctx, s, 900) {
		at, restoredAt, err := s.outage(ctx, l, "Redis", s.b.redis.kill, s.b.redis.start, 3*time.Second)
		if err != nil {
			return err
		}
		faults = append(faults, fault{"Redis SIGKILL, restarted empty after 3 s", at, restoredAt})
	}
	l.reach(ctx, s, l.ackedCount()+300)
	return s.finishSteadyLoad(ctx, l, func(rows map[string]jobRow) {
		for _, f := range faults {
			s.noteRecovery(rows, l.acked(), f.what, f.at, f.restoredAt)
		}
	})
}

// mariadbKill runs a steady load; after 500 acknowledgements and a burst it SIGKILLs
// MariaDB, restarts it 10 s later on the same data directory, and stops 300
// acknowledgements after it is back.
func mariadbKill(ctx context.Context, s *scene) error {
	l, err := s.startSteadyLoad(ctx)
	if err != nil {
		return err
	}
	defer l.end()
	if !l.reach(ctx, s, 500) {
		return nil
	}
	killedAt, restoredAt, err := s.outage(ctx, l, "MariaDB", s.b.mariadb.kill, s.b.mariadb.start, 10*time.Second)
	if err != nil {
		return err
	}
	restored := l.ackedCount()
	if l.reach(ctx, s, restored+1) {
		s.logf("starts acknowledged again")
		s.res.note("starts were acknowledged again %s after MariaDB was back", seconds(firstAckAfter(l.acked(), restoredAt).Sub(restoredAt)))
	}
	l.reach(ctx, s, restored+300)
	return s.finishSteadyLoad(ctx, l, func(rows map[string]jobRow) {
		s.noteRecovery(rows, l.acked(), "MariaDB SIGKILL, restarted after 10 s", killedAt, restoredAt)
	})
}

// steadyLoad is the load of the Redis and MariaDB scenarios: about 100 starts a second (8
// clients, one start every 80 ms each) for an API and two workers of 16 slots.
type steadyLoad struct {
	*starter
	stop    chan struct{}
	stopped sync.Once
	loaded  chan error
}

// startSteadyLoad starts the processes and the load.
func (s *scene) startSteadyLoad(ctx context.Context) (*steadyLoad, error) {
	api, err := s.startJobs(ctx, "api", "api", 0)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"worker-a", "worker-b"} {
		if _, err := s.startJobs(ctx, name, "worker", 16); err != nil {
			return nil, err
		}
	}
	l := &steadyLoad{starter: newStarter(s.env, api.url, workFunction), stop: make(chan struct{}), loaded: make(chan error, 1)}
	go func() { l.loaded <- l.run(ctx, 8, 80*time.Millisecond, 0, l.stop, workMs) }()
	return l, nil
}

// reach waits until n starts are acknowledged (failing the scenario if not within a minute).
func (l *steadyLoad) reach(ctx context.Context, s *scene, n int) bool {
	return s.waitFor(ctx, fmt.Sprintf("%d starts acknowledged", n), time.Minute, func() bool { return l.ackedCount() >= n })
}

// burst starts 200 jobs at once beside the steady load, so that a fault right after it
// finds jobs waiting on the stream as well as running.
func (l *steadyLoad) burst(ctx context.Context) error {
	return l.run(ctx, 16, 0, l.next.Load()+200, nil, workMs)
}

// end stops starting jobs; the starts under way go on until acknowledged.
func (l *steadyLoad) end() { l.stopped.Do(func() { close(l.stop) }) }

// outage bursts, SIGKILLs a server (kill), leaves it down for down and restarts it
// (start). It returns when the server was killed and when it answered again.
func (s *scene) outage(ctx context.Context, l *steadyLoad, what string, kill func(), start func(context.Context) error,
	down time.Duration) (at, restoredAt time.Time, err error) {
	if err := l.burst(ctx); err != nil {
		return at, at, err
	}
	at = time.Now()
	kill()
	s.logf("SIGKILL %s (%d acknowledged so far)", what, l.ackedCount())
	if !pause(ctx, down) {
		return at, at, ctx.Err()
	}
	if err := start(ctx); err != nil {
		return at, at, err
	}
	s.logf("%s restarted (%d acknowledged so far)", what, l.ackedCount())
	return at, time.Now(), nil
}

// finishSteadyLoad ends the load, waits for its last acknowledgements and for every job to
// finish, checks them, and hands the jobs to measure, which notes the recoveries.
func (s *scene) finishSteadyLoad(ctx context.Context, l *steadyLoad, measure func(map[string]jobRow)) error {
	l.end()
	if err := <-l.loaded; err != nil {
		return err
	}
	s.logf("load stopped: %d starts acknowledged", l.ackedCount())
	if rows := s.settle(ctx, l.starter, true); rows != nil {
		measure(rows)
	}
	return nil
}

// noteRecovery notes a fault's recovery (recoveryAfter) and keeps the longest.
func (s *scene) noteRecovery(rows map[string]jobRow, acks []ack, what string, at, restoredAt time.Time) {
	d, atRisk, ok := recoveryAfter(rows, acks, at, restoredAt)
	if !ok {
		s.res.note("%s: not every job acknowledged before it finished", what)
		return
	}
	s.res.recovery = max(s.res.recovery, d)
	s.res.note("%s: %d jobs were unfinished at the fault; they, the jobs acknowledged until the service was back, and the first one after had finished %s after the fault",
		what, atRisk, seconds(d))
}

// firstAckAfter is the time of the first acknowledgement after t.
func firstAckAfter(acks []ack, t time.Time) time.Time {
	var first time.Time
	for _, a := range acks {
		if a.at.After(t) && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	return first
}

// workerSIGTERM fills a worker's 16 slots with 8 jobs of 1 s (they finish within the 3 s
// grace) and 8 of 10 s (they do not: they are handed back), queues 48 short ones behind
// them, then SIGTERMs the worker and starts another. The worker must exit 0 within the
// grace plus 6 s (go-zero's own wait, the hand-back, a loaded machine); recovery is the
// time from the SIGTERM until the handed-back jobs run again.
func workerSIGTERM(ctx context.Context, s *scene) error {
	const slots, running, queued = 16, 16, 48
	api, err := s.startJobs(ctx, "api", "api", 0)
	if err != nil {
		return err
	}
	old, err := s.startJobs(ctx, "worker-a", "worker", slots)
	if err != nil {
		return err
	}
	st := newStarter(s.env, api.url, workFunction)
	params := func(n int64) map[string]any {
		switch {
		case n >= running:
			return map[string]any{"ms": 50}
		case n%2 == 0:
			return map[string]any{"ms": 1000}
		default:
			return map[string]any{"ms": 10000}
		}
	}
	if err := st.run(ctx, running, 0, running, nil, params); err != nil {
		return err
	}
	if !s.waitFor(ctx, "16 jobs running on worker-a", 30*time.Second, func() bool { return len(s.b.rec.runningOn(old.name)) == running }) {
		return nil
	}
	if err := st.run(ctx, 8, 0, running+queued, nil, params); err != nil {
		return err
	}
	atTerm := s.b.rec.runningOn(old.name)
	termAt := time.Now()
	old.signal(syscall.SIGTERM)
	s.logf("SIGTERM worker-a with %d jobs running on it and %d queued", len(atTerm), queued)
	if _, err := s.startJobs(ctx, "worker-b", "worker", slots); err != nil {
		return err
	}
	exitBound := shutdownGrace + 6*time.Second
	select {
	case <-old.done:
		took := time.Since(termAt)
		s.logf("worker-a exited with status %d", old.exitCode())
		if code := old.exitCode(); code != 0 {
			s.res.fail("worker-a exited with status %d after SIGTERM, want 0:\n%s", code, old.logTail(15))
		}
		if took > exitBound {
			s.res.fail("worker-a took %s to exit after SIGTERM, want at most %s", seconds(took), exitBound)
		}
		s.res.note("worker-a exited %d %s after SIGTERM (grace %s)", old.exitCode(), seconds(took), shutdownGrace)
	case <-time.After(exitBound):
		s.res.fail("worker-a still running %s after SIGTERM", exitBound)
	}
	rows := s.settle(ctx, st, true)
	runs := s.b.rec.executions()
	var handedBack []string
	for _, id := range atTerm {
		if runs[id].calls > 1 {
			handedBack = append(handedBack, id)
		}
	}
	s.res.note("of the %d jobs running at the SIGTERM, %d finished within the grace and %d were handed back and run again",
		len(atTerm), len(atTerm)-len(handedBack), len(handedBack))
	if rerun, ok := s.b.rec.firstRunAfter(handedBack, termAt); ok {
		s.res.recovery = rerun.Sub(termAt)
		last, _ := lastFinished(rows, handedBack)
		s.res.note("the handed-back jobs ran again %s after the SIGTERM; the last of them completed %s after it",
			seconds(s.res.recovery), seconds(last.Sub(termAt)))
	}
	return nil
}

// settle waits up to a minute for every job st started to finish, then checks them (with
// the recorder's counts of their executions if recorded) and returns them as MySQL has them.
func (s *scene) settle(ctx context.Context, st *starter, recorded bool) map[string]jobRow {
	acks := st.acked()
	if err := s.waitDone(ctx, len(acks), time.Now().Add(time.Minute)); err != nil {
		s.res.fail("%v", err)
	} else {
		s.logf("all jobs finished")
	}
	var runs map[string]runCount
	if recorded {
		runs = s.b.rec.executions()
	}
	s.res.refused = st.refused()
	return s.check(ctx, acks, runs, s.res)
}

// pause waits d, or less if ctx ends (then it returns false).
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// seconds formats d as seconds with one decimal.
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
