package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/backoff"
	"jobs/internal/config"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/queue"
	"jobs/model"
)

// opTimeout bounds one MySQL or Redis operation of the pool's own bookkeeping.
const opTimeout = 10 * time.Second

// unregisteredDelay is how long a job handed back for want of its function waits before it
// is enqueued again: long enough that the worker that handed it back does not spin on it
// while the others read the stream, short enough to be a pause in a rolling deploy.
const unregisteredDelay = 5 * time.Second

// Config tunes a Pool: the Worker keys, and the pool's name.
type Config struct {
	// ID names this pool as a stream consumer and a lease owner; unique per process.
	ID string
	config.WorkerConf
}

// NewID returns a pool id unique to this process.
func NewID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}

// Pool runs claimed jobs, at most Config.Concurrency at a time.
type Pool struct {
	cfg        Config
	jobs       Store
	queue      Stream
	dispatcher Enqueuer
	registry   *functions.Registry
	log        logx.Logger
	completer  *completer
	emitter    *events.Emitter

	slots chan struct{} // one token per running job

	mu      sync.Mutex
	running map[string]*execution
	// claiming holds the ids of claims in flight, true once a cancel signal named one: a
	// signal that arrives after the claim committed but before its job runs is not lost.
	claiming map[string]bool

	runCtx     context.Context // parent of every execution
	stopRun    context.CancelFunc
	fetchCtx   context.Context
	stopFetch  context.CancelFunc
	serviceCtx context.Context // heartbeats and cancel signals, which outlive fetching
	stopSvc    context.CancelFunc
	fetchWG    sync.WaitGroup
	serviceWG  sync.WaitGroup
	execWG     sync.WaitGroup
}

// NewPool returns a pool; Start starts it.
func NewPool(cfg Config, jobs Store, q Stream, d Enqueuer, r *functions.Registry, bus *events.Bus) *Pool {
	p := &Pool{
		cfg:        cfg,
		jobs:       jobs,
		queue:      q,
		dispatcher: d,
		registry:   r,
		log:        logx.WithContext(context.Background()).WithFields(logx.Field("worker", cfg.ID)),
		slots:      make(chan struct{}, cfg.Concurrency),
		running:    make(map[string]*execution),
		claiming:   make(map[string]bool),
	}
	p.emitter = events.NewEmitter(bus, 4096)
	p.completer = newCompleter(jobs, d, p.emitter, cfg.Concurrency*2, cfg.Lease, p.log)
	return p
}

// Start creates the consumer group if needed, subscribes to cancel signals and starts
// fetching. It returns once the pool can receive cancel signals.
func (p *Pool) Start(ctx context.Context) error {
	if err := p.queue.EnsureGroup(ctx); err != nil {
		return fmt.Errorf("worker: create consumer group: %w", err)
	}
	serviceCtx, stopSvc := context.WithCancel(context.Background())
	sub := p.queue.SubscribeCancels(serviceCtx)
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		stopSvc()
		return fmt.Errorf("worker: subscribe to cancel signals: %w", err)
	}
	p.serviceCtx, p.stopSvc = serviceCtx, stopSvc
	p.runCtx, p.stopRun = context.WithCancel(context.Background())
	p.fetchCtx, p.stopFetch = context.WithCancel(context.Background())
	p.emitter.Start()
	p.completer.start()
	p.serviceWG.Add(2)
	go p.listenCancels(sub)
	go p.maintain()
	p.fetchWG.Add(1)
	go p.fetch()
	return nil
}

// Stop stops taking work, lets running jobs finish within ShutdownGrace (or ctx, if sooner),
// hands the rest back to pending, and returns once every goroutine of the pool has ended.
// Goroutines that send stop before those that receive: fetching, then executions, then the
// completer, then the event emitter, then heartbeats and cancel signals. A pool that never
// started (or failed to) has nothing to stop.
func (p *Pool) Stop(ctx context.Context) {
	if p.stopFetch == nil {
		return
	}
	p.stopFetch()
	p.fetchWG.Wait()

	grace, cancel := context.WithTimeout(ctx, p.cfg.ShutdownGrace)
	defer cancel()
	if !waitGroupWithin(grace, &p.execWG) {
		p.handBack()
		if !waitGroupWithin(context.WithoutCancel(ctx), &p.execWG) {
			p.log.Errorf("worker: functions still running after shutdown")
		}
	}
	p.stopRun()
	p.completer.stop()
	p.emitter.Stop()
	p.stopSvc()
	p.serviceWG.Wait()
}

// waitGroupWithin waits for wg until ctx ends and reports whether wg finished.
func waitGroupWithin(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// handBack returns every job still running here to pending, then stops its function.
// The attempt stays counted: attempts only grow, so a late write from it can never match.
func (p *Pool) handBack() {
	execs := p.abandonAll(errShutdown)
	if len(execs) == 0 {
		return
	}
	outcomes := make([]finished, len(execs))
	for i, e := range execs {
		outcomes[i] = finished{owner: events.OwnerOf(e.job), Outcome: model.Outcome{Id: e.job.Id, Attempt: e.job.Attempt,
			Kind: model.OutcomeHandBack, Progress: e.snapshot()}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), handBackPatience)
	defer cancel()
	if err := p.completer.writeRetrying(ctx, outcomes); err != nil {
		p.log.Errorf("worker: hand back %d jobs: %v (their leases will expire and the sweep will retry them)", len(execs), err)
		return
	}
	p.log.Infof("worker: handed %d running jobs back to pending", len(execs))
}

// fetch reads stream entries while there are free slots, claims their jobs and runs them.
func (p *Pool) fetch() {
	defer p.fetchWG.Done()
	ctx := p.fetchCtx
	lastIdleClaim := time.Now()
	for {
		n := p.acquire(ctx)
		if n == 0 {
			return
		}
		var deliveries []queue.Delivery
		var err error
		if time.Since(lastIdleClaim) >= p.cfg.ClaimIdle/2 {
			lastIdleClaim = time.Now()
			deliveries, err = p.queue.ClaimIdle(ctx, p.cfg.ID, p.cfg.ClaimIdle, n)
		}
		if err == nil && len(deliveries) == 0 {
			deliveries, err = p.queue.Read(ctx, p.cfg.ID, n, config.ReadBlock)
		}
		started := 0
		if err == nil {
			started = p.claimAndRun(deliveries)
		} else if ctx.Err() == nil {
			p.log.Errorf("worker: read stream: %v", err)
			sleepCtx(ctx, time.Second)
		}
		p.release(n - started)
	}
}

// acquire blocks until at least one slot is free, then takes up to BatchSize slots.
// It returns 0 once ctx is done.
func (p *Pool) acquire(ctx context.Context) int {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < p.cfg.BatchSize {
		select {
		case p.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (p *Pool) release(n int) {
	for range n {
		<-p.slots
	}
}

// claimAndRun claims the jobs of deliveries, acks the entries once the claim is committed,
// and starts the jobs it won. It returns how many it started (each holds a slot).
func (p *Pool) claimAndRun(deliveries []queue.Delivery) int {
	if len(deliveries) == 0 {
		return 0
	}
	// The ack of a claim that reached MySQL must be seen through even if shutdown began.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ids := make([]string, 0, len(deliveries))
	entries := make([]string, len(deliveries))
	seen := make(map[string]bool, len(deliveries))
	for i, d := range deliveries {
		entries[i] = d.EntryID
		if d.JobID != "" && !seen[d.JobID] {
			seen[d.JobID] = true
			ids = append(ids, d.JobID)
		}
	}
	p.mu.Lock()
	for _, id := range ids {
		p.claiming[id] = false
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		for _, id := range ids {
			delete(p.claiming, id)
		}
		p.mu.Unlock()
	}()
	claimed, err := p.claim(ids)
	if err != nil {
		// Shutdown: unacked entries stay with this consumer; ClaimIdle hands them to another.
		p.log.Errorf("worker: claim %d jobs: %v", len(ids), err)
		return 0
	}
	if err := p.queue.Ack(ctx, entries...); err != nil {
		// The jobs are claimed in MySQL; a redelivered entry finds them running and is acked then.
		p.log.Errorf("worker: ack %d entries: %v", len(entries), err)
	}
	for _, job := range claimed {
		p.emitter.Emit(events.Pending{JobID: job.Id, Name: events.Status, Owner: events.OwnerOf(job),
			Data: events.StatusData{Status: model.StatusRunning, Attempt: job.Attempt}})
		p.run(job)
	}
	return len(claimed)
}

// claim claims ids, retrying a failing MySQL until it answers or the pool stops fetching:
// the entries are this consumer's until acked, and given up they would wait ClaimIdle (15 s)
// after MySQL's return for a consumer to take them back. Every try carries the same token,
// so a try that committed but whose reply was lost is not lost: the next returns its jobs.
func (p *Pool) claim(ids []string) (claimed []*model.Jobs, err error) {
	token := uuid.NewString()
	err = retryUntil(p.fetchCtx, p.log, fmt.Sprintf("claim %d jobs", len(ids)), func() error {
		// A claim that reached MySQL must be seen through even if shutdown began meanwhile.
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		claimed, err = p.jobs.Claim(ctx, ids, p.cfg.ID, token, p.cfg.Lease)
		return err
	})
	return claimed, err
}

// run starts one claimed job on its own goroutine; the job holds a slot until it ends.
func (p *Pool) run(job *model.Jobs) {
	def, ok := p.registry.Lookup(job.FunctionId)
	if !ok {
		p.execWG.Add(1)
		go func() {
			defer p.execWG.Done()
			defer p.release(1)
			p.completer.submit(p.unregistered(job, time.Now()), events.OwnerOf(job))
		}()
		return
	}
	observed, obs := observe(p.runCtx, job)
	ctx, cancel := context.WithCancelCause(observed)
	e := &execution{job: job, cancel: cancel, emitter: p.emitter, logTail: p.cfg.LogTail,
		progress: model.Progress{Progress: job.Progress, Total: job.Total, Message: job.Message}}
	p.mu.Lock()
	// An execution of the job still here is of an earlier attempt: the claim just won found
	// the job pending, so that attempt was reaped before a heartbeat told it (a pause longer
	// than the lease). It stops as if another worker had claimed the job.
	earlier := p.running[job.Id]
	p.running[job.Id] = e
	cancelled := p.claiming[job.Id]
	p.mu.Unlock()
	if earlier != nil {
		earlier.abandon(errLeaseLost)
	}
	if cancelled {
		e.abandon(errCancelled) // cancelled between its claim and now: it does not begin
	}

	p.execWG.Add(1)
	go func() {
		defer p.execWG.Done()
		defer p.release(1)
		defer cancel(nil)
		var outcome model.Outcome
		if !e.abandoned.Load() { // cancelled before it began: the function is not called
			outcome = e.execute(ctx, def)
			e.awaitReports()
		}
		p.mu.Lock()
		if p.running[job.Id] == e {
			delete(p.running, job.Id)
		}
		p.mu.Unlock()
		abandoned := e.abandoned.Load()
		obs.end(outcome, abandoned)
		if abandoned {
			return // cancelled, lease lost or handed back: whatever it returned is discarded
		}
		p.completer.submit(outcome, events.OwnerOf(job))
	}()
}

// unregistered is the outcome of a job whose function this worker does not have. In a
// rolling deploy that adds the function, API processes on the new config accept its jobs
// while workers on the old one still read the stream: the job is handed back, its attempt
// given back, for a worker that has the function. Once workers have handed it back for
// UnknownFunctionGrace (a function no worker has, or removed with jobs of it pending), it fails.
func (p *Pool) unregistered(job *model.Jobs, now time.Time) model.Outcome {
	o := model.Outcome{Id: job.Id, Attempt: job.Attempt, Claim: job.LeaseToken,
		Progress: model.Progress{Progress: job.Progress, Total: job.Total, Message: job.Message}}
	if job.UnregisteredSince.Valid && now.Sub(job.UnregisteredSince.Time) >= p.cfg.UnknownFunctionGrace {
		o.Kind = model.OutcomeFailed
		o.Error = fmt.Sprintf("no worker has function %q registered: workers without it handed the job back for %s (Worker.UnknownFunctionGrace)",
			job.FunctionId, p.cfg.UnknownFunctionGrace)
		return o
	}
	o.Kind, o.RetryDelay = model.OutcomeUnregistered, unregisteredDelay
	o.Error = fmt.Sprintf("function %q is not registered on worker %s; handed back for a worker that has it", job.FunctionId, p.cfg.ID)
	return o
}

// cancelJob stops the execution of jobID, if one runs here, and discards its outcome; a job
// whose claim is in flight here is stopped as soon as it runs.
func (p *Pool) cancelJob(jobID string) {
	p.mu.Lock()
	e := p.running[jobID]
	if _, claiming := p.claiming[jobID]; e == nil && claiming {
		p.claiming[jobID] = true
	}
	p.mu.Unlock()
	if e != nil {
		e.abandon(errCancelled)
	}
}

// abandonAll marks every running execution abandoned and returns them; their functions
// are stopped by stopRun.
func (p *Pool) abandonAll(cause error) []*execution {
	p.mu.Lock()
	defer p.mu.Unlock()
	execs := make([]*execution, 0, len(p.running))
	for _, e := range p.running {
		if e.abandoned.CompareAndSwap(false, true) {
			e.cancel(cause)
			execs = append(execs, e)
		}
	}
	return execs
}

func (p *Pool) snapshotRunning() []*execution {
	p.mu.Lock()
	defer p.mu.Unlock()
	execs := make([]*execution, 0, len(p.running))
	for _, e := range p.running {
		execs = append(execs, e)
	}
	return execs
}

// listenCancels stops jobs cancelled through the API as soon as their signal arrives.
func (p *Pool) listenCancels(sub *redis.PubSub) {
	defer p.serviceWG.Done()
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case msg, ok := <-ch:
			if !ok {
				return
			}
			p.cancelJob(msg.Payload)
		case <-p.serviceCtx.Done():
			return
		}
	}
}

// maintain extends leases every Heartbeat and writes progress every ProgressFlush.
func (p *Pool) maintain() {
	defer p.serviceWG.Done()
	heartbeat := time.NewTicker(p.cfg.Heartbeat)
	defer heartbeat.Stop()
	flush := time.NewTicker(p.cfg.ProgressFlush)
	defer flush.Stop()
	for {
		select {
		case <-heartbeat.C:
			p.heartbeat()
		case <-flush.C:
			p.flushProgress()
		case <-p.serviceCtx.Done():
			return
		}
	}
}

func (p *Pool) heartbeat() {
	execs := p.snapshotRunning()
	if len(execs) == 0 {
		return
	}
	ids := make([]string, len(execs))
	for i, e := range execs {
		ids[i] = e.job.Id
	}
	ctx, cancel := context.WithTimeout(p.serviceCtx, opTimeout)
	defer cancel()
	held, err := p.jobs.ExtendLeases(ctx, p.cfg.ID, ids, p.cfg.Lease)
	if err != nil {
		p.log.Errorf("worker: extend leases of %d jobs: %v", len(ids), err)
		return
	}
	for _, e := range execs {
		if attempt, ok := held[e.job.Id]; !ok || attempt != e.job.Attempt {
			// Cancelled (and the signal missed) or reaped: no longer ours to finish.
			e.abandon(errLeaseLost)
		}
	}
}

func (p *Pool) flushProgress() {
	var progress []model.Progress
	for _, e := range p.snapshotRunning() {
		if pr, dirty := e.takeDirty(); dirty {
			progress = append(progress, pr)
		}
	}
	if len(progress) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(p.serviceCtx, opTimeout)
	defer cancel()
	if err := p.jobs.SaveProgress(ctx, progress); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Errorf("worker: save progress of %d jobs: %v", len(progress), err)
	}
}

// retryUntil calls try until it succeeds or ctx ends (it always calls it at least once),
// logging each failure and waiting between calls with jittered exponential backoff
// (100 ms doubling up to 2 s), so workers meeting a MySQL that comes back do not all
// return at once.
func retryUntil(ctx context.Context, log logx.Logger, what string, try func() error) error {
	for n := int64(1); ; n++ {
		err := try()
		if err == nil || ctx.Err() != nil {
			return err
		}
		log.Errorf("worker: %s (try %d): %v; retrying", what, n, err)
		sleepCtx(ctx, backoff.Delay(100*time.Millisecond, 2*time.Second, n))
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
