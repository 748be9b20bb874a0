package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/queue"
	"jobs/internal/testutil"
	"jobs/internal/worker"
	"jobs/model"
)

type bundle struct {
	jobs     model.JobsModel
	queue    *queue.Queue
	dispatch *dispatch.Dispatcher
	registry *functions.Registry
	bus      *events.Bus
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db, conn, err := model.Open(testutil.NewDB(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	jobs := model.NewJobsModel(conn)
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	q := queue.New(rdb, prefix)
	registry, err := functions.NewRegistry(functions.Builtins()...)
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute})
	return &bundle{jobs: jobs, queue: q, dispatch: dispatch.New(jobs, q), registry: registry, bus: bus}
}

func (b *bundle) insert(t *testing.T, functionID, params string) string {
	t.Helper()
	now := time.Now().UTC()
	job := &model.Jobs{Id: uuid.Must(uuid.NewV7()).String(), FunctionId: functionID, Status: string(model.StatusPending),
		Params: params, MaxAttempts: 3, CreatedAt: now}
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = now, true
	if _, err := b.jobs.Insert(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if err := b.dispatch.Enqueue(context.Background(), job.Id); err != nil {
		t.Fatal(err)
	}
	return job.Id
}

func (b *bundle) waitStatus(t *testing.T, id string, status model.Status) *model.Jobs {
	t.Helper()
	return b.waitStatusWithin(t, id, status, 10*time.Second)
}

// waitStatusWithin is waitStatus with a wait of its own.
func (b *bundle) waitStatusWithin(t *testing.T, id string, status model.Status, wait time.Duration) *model.Jobs {
	t.Helper()
	var job *model.Jobs
	if !testutil.Eventually(wait, func() bool {
		var err error
		job, err = b.jobs.FindAnyTenant(context.Background(), id)
		return err == nil && job.State() == status
	}) {
		t.Fatalf("job %s never %s; last %+v", id, status, job)
	}
	return job
}

func poolConfig(grace time.Duration) worker.Config {
	return worker.Config{ID: worker.NewID(), WorkerConf: config.WorkerConf{Concurrency: 4, BatchSize: 4, Lease: 2 * time.Second,
		Heartbeat: 100 * time.Millisecond, ProgressFlush: 50 * time.Millisecond, ClaimIdle: time.Second, ShutdownGrace: grace}}
}

// workerGoroutines lists the goroutines running code of package worker.
func workerGoroutines() []string {
	var found []string
	for _, g := range testutil.GoroutineStacks() {
		if strings.Contains(g, "jobs/internal/worker.") && !strings.Contains(g, "worker_test.") {
			found = append(found, g)
		}
	}
	return found
}

func TestStopLeavesNoGoroutineBehind(t *testing.T) {
	b := setup(t)
	pool := worker.NewPool(poolConfig(300*time.Millisecond), b.jobs, b.queue, b.dispatch, b.registry, b.bus)
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	quick := b.insert(t, "echo", `{"x":1}`)
	long := b.insert(t, "sleep", `{"seconds":30}`)
	b.waitStatus(t, quick, model.StatusCompleted)
	b.waitStatus(t, long, model.StatusRunning)

	stopped := time.Now()
	pool.Stop(context.Background())
	if d := time.Since(stopped); d > 3*time.Second {
		t.Errorf("Stop took %s with a 300ms grace", d)
	}
	if left := workerGoroutines(); len(left) > 0 {
		t.Fatalf("%d goroutines of package worker left after Stop:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	handed := b.waitStatus(t, long, model.StatusPending)
	if handed.Attempt != 1 || handed.LeaseOwner != "" {
		t.Errorf("handed-back job: attempt %d, lease owner %q", handed.Attempt, handed.LeaseOwner)
	}
}

func TestConcurrentClaimsOfOneJobHaveOneWinner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.insert(t, "echo", `{}`)
	const claimers = 8
	won := make(chan int, claimers)
	for i := range claimers {
		go func() {
			claimed, err := b.jobs.Claim(context.Background(), []string{id}, "w"+string(rune('a'+i)), uuid.NewString(), time.Minute)
			if err != nil {
				t.Error(err)
			}
			won <- len(claimed)
		}()
	}
	total := 0
	for range claimers {
		total += <-won
	}
	if total != 1 {
		t.Fatalf("%d claims won, want exactly 1", total)
	}
	job := b.waitStatus(t, id, model.StatusRunning)
	if job.Attempt != 1 {
		t.Errorf("attempt = %d after one claim", job.Attempt)
	}

	// A late outcome of an older attempt, or a second outcome of this one, changes nothing.
	outcome := model.Outcome{Id: id, Attempt: 1, Kind: model.OutcomeCompleted}
	outcome.Result.String, outcome.Result.Valid = `"first"`, true
	stale := model.Outcome{Id: id, Attempt: 0, Kind: model.OutcomeFailed, Error: "late"}
	won2, err := b.jobs.Finish(context.Background(), uuid.NewString(), []model.Outcome{stale, outcome, outcome})
	if err != nil {
		t.Fatal(err)
	}
	if won2[0] || !won2[1] || won2[2] {
		t.Fatalf("Finish winners = %v, want [false true false]", won2)
	}
	if cancelled, err := b.jobs.Cancel(context.Background(), id, model.StatusRunning); err != nil || cancelled {
		t.Fatalf("cancel of a completed job took effect (%v, %v)", cancelled, err)
	}
}

// Outcomes that together carry more than one statement may (MySQL's max_allowed_packet,
// 16 MiB here) are written in several: 40 results of 1000 KiB, ending together, all complete.
func TestABatchOfLargeResultsIsWritten(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gate := make(chan struct{})
	large := strings.Repeat("x", 1000<<10)
	def := &functions.Definition{ID: "large", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		Run: func(ctx context.Context, _ functions.Call, _ functions.Reporter) (any, error) {
			select {
			case <-gate:
				return large, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}}
	registry, err := functions.NewRegistry(append(functions.Builtins(), def)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := poolConfig(time.Second)
	cfg.Concurrency, cfg.BatchSize, cfg.Lease = 40, 40, time.Minute
	pool := worker.NewPool(cfg, b.jobs, b.queue, b.dispatch, registry, b.bus)
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Stop(context.Background()) })
	ids := make([]string, cfg.Concurrency)
	for i := range ids {
		ids[i] = b.insert(t, "large", `{}`)
	}
	for _, id := range ids {
		b.waitStatus(t, id, model.StatusRunning)
	}
	close(gate) // every job ends at once: their outcomes reach the completer together

	for _, id := range ids {
		// 40 MiB of results take seconds through -race on a loaded machine.
		if job := b.waitStatusWithin(t, id, model.StatusCompleted, time.Minute); len(job.Result.String) != len(large)+2 || job.Attempt != 1 {
			t.Errorf("job %s: %d bytes of result, attempt %d", id, len(job.Result.String), job.Attempt)
		}
	}
}

// An attempt's kept output lines are stored with its progress and its outcome, so they must
// fit a statement: 5,000 lines (Worker.LogTail allows 10,000) of 4 KiB (a command's longest)
// made 20 MiB, over max_allowed_packet (16 MiB here). MySQL dropped the connection, the write
// was an outage retried in vain, and the job never completed. The last lines that fit are
// kept, and a last line over the bound alone (an in-process function's) is cut to fit.
func TestALongLogTailIsCutToFitAStatement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const lines = 5000
	line := strings.Repeat("x", 4096)
	huge := strings.Repeat("<", 2<<20) // six bytes each as JSON (\u003c)
	logging := func(id string, out ...string) *functions.Definition {
		return &functions.Definition{ID: id, Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
			Run: func(ctx context.Context, _ functions.Call, report functions.Reporter) (any, error) {
				for _, l := range out {
					report.Log("stdout", l)
				}
				return "done", nil
			}}
	}
	many := make([]string, lines)
	for i := range many {
		many[i] = fmt.Sprintf("%05d %s", i, line)
	}
	registry, err := functions.NewRegistry(append(functions.Builtins(), logging("chatty", many...), logging("shouter", "first", huge))...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := poolConfig(time.Second)
	cfg.LogTail, cfg.Lease = lines, time.Minute
	pool := worker.NewPool(cfg, b.jobs, b.queue, b.dispatch, registry, b.bus)
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Stop(context.Background()) })
	for fn, last := range map[string]func(string) bool{
		"chatty":  func(l string) bool { return l == many[lines-1] },
		"shouter": func(l string) bool { return len(l) > 0 && strings.HasPrefix(huge, l) },
	} {
		id := b.insert(t, fn, `{}`)
		var job *model.Jobs
		if !testutil.Eventually(30*time.Second, func() bool {
			job, err = b.jobs.FindAnyTenant(context.Background(), id)
			return err == nil && job.State() == model.StatusCompleted
		}) {
			t.Fatalf("%s: the job never completed (%s, %d bytes of log tail)", fn, job.Status, len(job.LogTail.String))
		}
		var kept []events.LogData
		if err := json.Unmarshal([]byte(job.LogTail.String), &kept); err != nil {
			t.Fatalf("%s: log tail of %d bytes: %v", fn, len(job.LogTail.String), err)
		}
		if len(job.LogTail.String) > worker.MaxLogTailBytes || len(kept) == 0 || !last(kept[len(kept)-1].Line) {
			t.Errorf("%s: log tail of %d bytes (at most %d), %d lines, want the last lines that fit", fn,
				len(job.LogTail.String), worker.MaxLogTailBytes, len(kept))
		}
	}
}

// slowWrites delays every script run and pipeline (what the event bus publishes with) by
// delay: a Redis that lags behind MySQL.
type slowWrites struct{ delay time.Duration }

func (slowWrites) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s slowWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			time.Sleep(s.delay)
		}
		return next(ctx, cmd)
	}
}

func (s slowWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		time.Sleep(s.delay)
		return next(ctx, cmds)
	}
}

// A job's reports are in its event log before MySQL says it has ended. A stream that finds
// the job ended with no done in Redis stores the done itself, and nothing is stored in a
// job's log after its done: reports published after the end would never reach any stream.
func TestAJobsReportsArePublishedBeforeItEnds(t *testing.T) {
	b := setup(t)
	rdb := redis.NewClient(&redis.Options{Addr: testutil.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(slowWrites{delay: 300 * time.Millisecond})
	b.bus = events.NewBus(rdb, testutil.RedisPrefix(t), config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute})
	talker := &functions.Definition{ID: "talker", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		Run: func(ctx context.Context, call functions.Call, r functions.Reporter) (any, error) {
			r.Progress(1, 1, "said it")
			r.Log("stdout", "hello")
			return "ok", nil
		}}
	registry, err := functions.NewRegistry(append(functions.Builtins(), talker)...)
	if err != nil {
		t.Fatal(err)
	}
	id := b.insert(t, "talker", "{}")
	startPool(t, poolConfig(time.Second), b.jobs, b.queue, b.dispatch, registry, b)

	b.waitStatus(t, id, model.StatusCompleted)
	ctx := context.Background()
	latest, err := b.bus.LastID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := b.bus.Range(ctx, id, 0, latest)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	if !slices.Contains(names, events.Progress) || !slices.Contains(names, events.Log) {
		t.Errorf("events kept when the job had ended: %v, want its progress and log among them", names)
	}
}
