package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/startreq"
	"jobs/internal/starts"
	"jobs/model"
)

// Config tunes a Scheduler.
type Config struct {
	// Interval is the time between looks for due schedules.
	Interval time.Duration
	// LateGrace is how late a fire time may be found and still start: a busy machine or a
	// slow pass. Of the fire times found later than this (missed while no scheduler ran),
	// only the latest starts, and only when no fire time within LateGrace does; the others
	// are counted as missed.
	LateGrace time.Duration
}

// dueBatch is how many due schedules one pass reads.
const dueBatch = 100

// maxFiresPerPass bounds the fire times one pass walks through for a schedule (an @every 1s
// schedule after a long outage): beyond them it counts the walked ones as missed and goes on
// in the next pass.
const maxFiresPerPass = 100_000

// Scheduler starts the jobs of due schedules. Any number may run: each fire time is
// handled by the one whose compare-and-set on the schedule's next fire time wins.
type Scheduler struct {
	cfg        Config
	declared   []*model.Schedules // the config's schedules, synced before the first pass
	schedules  model.SchedulesModel
	rules      startreq.Rules
	dispatcher *dispatch.Dispatcher
	events     *events.Bus
	log        logx.Logger
	stop       context.CancelFunc
	done       chan struct{}
	lastErr    string
}

// NewScheduler returns a scheduler of the stored schedules and those declared in the
// config (see Declared); Start starts it.
func NewScheduler(cfg Config, declared []*model.Schedules, schedules model.SchedulesModel, rules startreq.Rules,
	d *dispatch.Dispatcher, bus *events.Bus) *Scheduler {
	return &Scheduler{cfg: cfg, declared: declared, schedules: schedules, rules: rules, dispatcher: d, events: bus,
		log: logx.WithContext(context.Background())}
}

// syncTimeout bounds the store of the config's schedules that Start waits for.
const syncTimeout = 5 * time.Second

// Start stores the config's schedules (so that they are there once Start returns, if
// MySQL answers), then looks for due schedules at once and every Interval until Stop.
// While MySQL is away it tries again every Interval.
func (s *Scheduler) Start() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	err := s.syncConfig(syncCtx)
	cancel()
	synced := err == nil
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(s.cfg.Interval)
		defer ticker.Stop()
		for {
			var err error
			if !synced {
				err = s.syncConfig(ctx)
				synced = err == nil
			}
			if synced {
				err = s.Pass(ctx)
			}
			if ctx.Err() != nil {
				return
			}
			s.logChange(err)
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// syncConfig stores the config's schedules, a new or changed one with its first fire time
// after now: the one Declared gave it at the process start has passed if MySQL was away
// since, and stored, it fired at once, for a time at which no process ran its cron.
func (s *Scheduler) syncConfig(ctx context.Context) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, d := range s.declared {
		sched, err := Parse(d.Cron, d.Timezone) // checked by Declared
		if err != nil {
			return err
		}
		d.NextFireAt, d.CreatedAt = Next(sched, now), now
	}
	return s.schedules.SyncConfig(ctx, s.declared)
}

// logChange logs a failed pass once, not every Interval while MySQL is away, and the
// recovery.
func (s *Scheduler) logChange(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == s.lastErr {
		return
	}
	if err != nil {
		s.log.Errorf("schedules: %v", err)
	} else {
		s.log.Infof("schedules: firing again")
	}
	s.lastErr = msg
}

// Stop ends the passes and waits for the current one.
func (s *Scheduler) Stop() {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
}

// Pass fires every schedule that is due now.
func (s *Scheduler) Pass(ctx context.Context) error {
	for {
		now := time.Now().UTC()
		due, err := s.schedules.Due(ctx, now, dueBatch)
		if err != nil {
			return err
		}
		// A schedule that fails does not hold up the others due with it; the pass ends after
		// this batch, and the failing one is tried again at the next.
		var failed []error
		for _, sc := range due {
			if err := s.fire(ctx, sc, now); err != nil {
				failed = append(failed, fmt.Errorf("schedule %s of tenant %s: %w", sc.Id, sc.TenantId, err))
			}
		}
		if len(failed) > 0 || len(due) < dueBatch {
			return errors.Join(failed...)
		}
	}
}

// fire handles the due fire times of sc: it starts the jobs of those it starts (after the
// commit that makes them this process's), and counts the others.
func (s *Scheduler) fire(ctx context.Context, sc *model.Schedules, now time.Time) error {
	f := model.Firing{Tenant: sc.TenantId, Id: sc.Id, From: sc.NextFireAt, OverlapSkip: sc.Overlap == model.OverlapSkip}
	sched, err := Parse(sc.Cron, sc.Timezone)
	if err != nil {
		// Stored schedules were checked when made; this is a parser or tzdata change.
		f.Error, f.Next, f.LastFire = err.Error(), now.Add(time.Hour).Truncate(time.Millisecond), sc.NextFireAt
		_, err := s.schedules.Fire(ctx, f)
		return err
	}
	p := Plan(sched, sc.NextFireAt, now, s.cfg.LateGrace)
	f.Next, f.LastFire, f.Missed = p.Next, p.Last, p.Missed
	checked, err := s.check(sc)
	if err != nil {
		// The function is no longer registered (a config change), say: nothing starts, and
		// the schedule says why.
		f.Error = err.Error()
	} else {
		for _, at := range p.Start {
			job, err := checked.Job(sc.TenantId, now.Truncate(time.Millisecond))
			if err != nil {
				return err
			}
			job.ScheduleId = sc.Id
			job.ScheduledFor.Time, job.ScheduledFor.Valid = at, true
			f.Jobs = append(f.Jobs, job)
		}
	}
	started, err := s.schedules.Fire(ctx, f)
	if err != nil {
		// The fire may have committed with its reply lost: its jobs, marked enqueued but not
		// on the stream, would wait Recovery.StaleEnqueue. Cleared, the due pass takes them.
		ids := make([]string, len(f.Jobs))
		for i, job := range f.Jobs {
			ids[i] = job.Id
		}
		s.dispatcher.Unmark(ctx, ids, err)
		return err
	}
	starts.Announce(ctx, s.events, s.dispatcher, started...)
	return nil
}

// check is the stored start request of sc, checked again: the functions may have changed.
func (s *Scheduler) check(sc *model.Schedules) (*startreq.Checked, error) {
	return s.rules.Check(Fields(sc))
}

// Fields is the start request sc stores. Its params are read as the API reads a body
// (numbers as json.Number), so an integer beyond a float64's 53 bits reaches the job as stored.
func Fields(sc *model.Schedules) startreq.Fields {
	params, _ := functions.DecodeParams([]byte(sc.Params))
	return startreq.Fields{FunctionId: sc.FunctionId, Name: sc.Name, Params: params, Actor: sc.Actor, GameId: sc.GameId,
		Env: sc.Env, MaxAttempts: sc.MaxAttempts, TimeoutSeconds: sc.TimeoutSeconds, CallbackUrl: sc.CallbackUrl}
}

// FirePlan is what to do with a schedule's due fire times.
type FirePlan struct {
	// Start are the fire times to start a job for, oldest first.
	Start []time.Time
	// Missed is how many due fire times are skipped.
	Missed int64
	// Last is the latest fire time handled; Next the schedule's next fire time after them.
	Last, Next time.Time
}

// Plan walks sched's fire times from next (the schedule's next fire time, due by now) to
// now. Fire times no later than grace before now start; of the older ones only the latest
// starts, and only when none of the recent ones does: a schedule down for a day starts one
// job on recovery, not a day's worth.
func Plan(sched cron.Schedule, next, now time.Time, grace time.Duration) FirePlan {
	var due []time.Time
	at := next
	for !at.After(now) && len(due) < maxFiresPerPass {
		due = append(due, at)
		following := Next(sched, at)
		if !following.After(at) {
			// No fire time within robfig/cron's five-year horizon: look again tomorrow.
			following = now.Add(24 * time.Hour).Truncate(time.Millisecond)
		}
		at = following
	}
	p := FirePlan{Next: at}
	if len(due) == 0 {
		return p
	}
	p.Last = due[len(due)-1]
	if !at.After(now) {
		// Capped: all of these are long past; the next pass goes on from at.
		p.Missed = int64(len(due))
		return p
	}
	for _, t := range due {
		if now.Sub(t) <= grace {
			p.Start = append(p.Start, t)
		}
	}
	if len(p.Start) == 0 {
		p.Start = due[len(due)-1:]
	}
	p.Missed = int64(len(due) - len(p.Start))
	return p
}
