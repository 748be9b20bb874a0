package schedule_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/queue"
	"jobs/internal/schedule"
	"jobs/internal/startreq"
	"jobs/internal/testutil"
	"jobs/model"
)

type testBundle struct {
	store      *testutil.Store
	schedules  model.SchedulesModel
	rules      startreq.Rules
	dispatcher *dispatch.Dispatcher
	bus        *events.Bus
	scheduler  *schedule.Scheduler
}

// setup gives a scheduler of its own database and Redis prefix, with the built-in
// functions, not started: a test runs its passes. wrap, if given, wraps the scheduler's
// schedules (to inject faults); the bundle's own are the real ones.
func setup(t *testing.T, wrap ...func(model.SchedulesModel) model.SchedulesModel) *testBundle {
	t.Helper()
	store := testutil.NewStore(t)
	schedules := model.NewSchedulesModel(sqlx.NewSqlConnFromDB(store.DB))
	seen := schedules
	for _, w := range wrap {
		seen = w(seen)
	}
	reg, err := functions.NewRegistry(functions.Builtins()...)
	if err != nil {
		t.Fatal(err)
	}
	rules := startreq.Rules{Functions: reg, Limits: config.LimitsConf{MaxParamsBytes: 65536, MaxAttempts: 20, MaxTimeoutSeconds: 86400}}
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	bus := events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute})
	b := &testBundle{store: store, schedules: schedules, rules: rules, dispatcher: dispatch.New(store.Jobs, queue.New(rdb, prefix)), bus: bus}
	b.scheduler = b.newScheduler(nil, seen)
	return b
}

// newScheduler is a scheduler of b's functions, dispatcher and events, over schedules, with
// the config's schedules declared.
func (b *testBundle) newScheduler(declared []*model.Schedules, schedules model.SchedulesModel) *schedule.Scheduler {
	return schedule.NewScheduler(schedule.Config{Interval: time.Hour, LateGrace: 5 * time.Second}, declared, schedules,
		b.rules, b.dispatcher, b.bus)
}

// insertDue stores schedule def of tenant t, due a moment ago.
func (b *testBundle) insertDue(t *testing.T, def schedule.Definition) *model.Schedules {
	t.Helper()
	s, err := schedule.Build("t", model.ScheduleFromAPI, def, b.rules, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.NextFireAt = time.Now().UTC().Add(-time.Millisecond).Truncate(time.Millisecond)
	if ok, err := b.schedules.Insert(context.Background(), s); err != nil || !ok {
		t.Fatalf("insert schedule: %v %v", ok, err)
	}
	return s
}

// A fired job has the params the schedule was made with: integers beyond a float64's 53
// bits (ids, say) included.
func TestFiredJobKeepsTheScheduleParamsExactly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// As the API reads a request body (go-zero's httpx.Parse keeps numbers as json.Number).
	var params map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"id":12345678901234567891,"n":9007199254740993,"x":1.5}`))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		t.Fatal(err)
	}
	s := b.insertDue(t, schedule.Definition{Id: "big", Cron: "@hourly", Start: startreq.Fields{FunctionId: "echo", Params: params}})
	if err := b.scheduler.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := testutil.Query[string](t, b.store.DB, "SELECT params FROM jobs WHERE schedule_id = ?", s.Id)
	if got != s.Params {
		t.Errorf("the fired job's params are %s, the schedule's %s", got, s.Params)
	}
}

// failingFire is the real schedules whose Fire of schedule id always fails.
type failingFire struct {
	model.SchedulesModel
	id string
}

func (f failingFire) Fire(ctx context.Context, fi model.Firing) ([]*model.Jobs, error) {
	if fi.Id == f.id {
		return nil, errors.New("injected: this schedule's fire fails")
	}
	return f.SchedulesModel.Fire(ctx, fi)
}

// A schedule whose fire keeps failing (the most overdue, so first in every pass) does not
// hold up the others: they fire, and the pass reports the failing one by name.
func TestAFailingScheduleDoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, func(m model.SchedulesModel) model.SchedulesModel { return failingFire{m, "broken"} })
	broken := b.insertDue(t, schedule.Definition{Id: "broken", Cron: "@hourly", Start: startreq.Fields{FunctionId: "echo"}})
	fine := b.insertDue(t, schedule.Definition{Id: "fine", Cron: "@hourly", Start: startreq.Fields{FunctionId: "echo"}})
	if _, err := b.store.DB.Exec("UPDATE schedules SET next_fire_at = next_fire_at - INTERVAL 1 MINUTE WHERE id = ?", broken.Id); err != nil {
		t.Fatal(err)
	}

	err := b.scheduler.Pass(context.Background())
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("pass: %v, want the broken schedule's failure", err)
	}
	if n := testutil.Query[int](t, b.store.DB, "SELECT COUNT(*) FROM jobs WHERE schedule_id = ?", fine.Id); n != 1 {
		t.Errorf("the schedule due after the failing one started %d jobs, want 1", n)
	}
}

// A fire whose reason for starting nothing is longer than last_error holds is stored cut,
// not refused (a refused fire would leave the schedule due and failing every pass).
func TestAFireWithALongErrorIsStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.insertDue(t, schedule.Definition{Id: "long", Cron: "@hourly", Start: startreq.Fields{FunctionId: "echo"}})
	long := strings.Repeat("é", 1500)
	started, err := b.schedules.Fire(context.Background(), model.Firing{Tenant: s.TenantId, Id: s.Id, From: s.NextFireAt,
		Next: s.NextFireAt.Add(time.Hour), LastFire: s.NextFireAt, Error: long})
	if err != nil || len(started) != 0 {
		t.Fatalf("fire: %d started, %v", len(started), err)
	}
	got := testutil.Query[string](t, b.store.DB, "SELECT last_error FROM schedules WHERE id = ?", s.Id)
	if !strings.HasPrefix(long, got) || len(got) == 0 || len(got) > 1024 {
		t.Errorf("last_error holds %d bytes, want a prefix of the message of at most 1024", len(got))
	}
}

// A process starts while MySQL is away, with a declared schedule whose cron changed and one
// added; MySQL answers two hours later. Their first fire time is the first after that sync,
// not after the process start: two hours on, that one has passed, and each fired at once,
// for a time at which no process ran their cron.
func TestDeclaredSchedulesSyncedLateFireFromTheSync(t *testing.T) {
	t.Parallel()
	b := setup(t)
	declare := func(at time.Time, list ...config.ScheduleConf) []*model.Schedules {
		t.Helper()
		d, err := schedule.Declared(list, b.rules, at)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	report := config.ScheduleConf{Tenant: "t", Id: "report", Cron: "@daily", FunctionId: "echo"}
	if err := b.schedules.SyncConfig(context.Background(), declare(time.Now(), report)); err != nil {
		t.Fatal(err)
	}
	report.Cron = "@hourly"
	added := config.ScheduleConf{Tenant: "t", Id: "added", Cron: "@hourly", FunctionId: "echo"}
	started := time.Now().Add(-2 * time.Hour)
	s := b.newScheduler(declare(started, report, added), b.schedules)
	synced := time.Now()
	s.Start()
	s.Stop()
	if err := s.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"report", "added"} {
		got, err := b.schedules.FindOne(context.Background(), "t", id)
		if err != nil {
			t.Fatal(err)
		}
		fired := testutil.Query[int](t, b.store.DB, "SELECT COUNT(*) FROM jobs WHERE schedule_id = ?", id)
		if got.Cron != "@hourly" || fired != 0 || !got.NextFireAt.After(synced) {
			t.Errorf("%s synced two hours after the start: cron %s, %d jobs fired, next fire %s, want @hourly, none, after %s",
				id, got.Cron, fired, got.NextFireAt, synced.UTC())
		}
	}
}

// lostFireReply is the real schedules whose Fire commits and then fails, as when the
// connection drops before MySQL's reply to the COMMIT arrives.
type lostFireReply struct{ model.SchedulesModel }

func (f lostFireReply) Fire(ctx context.Context, fi model.Firing) ([]*model.Jobs, error) {
	started, err := f.SchedulesModel.Fire(ctx, fi)
	return started, errors.Join(err, errors.New("injected fault: connection reset after the commit"))
}

// A fire commits but its reply is lost: the job is stored, marked enqueued, and not on the
// stream. Its mark must be cleared, so the sweep's next due pass enqueues it, not
// Recovery.StaleEnqueue (5 minutes) later.
func TestAFireWhoseReplyIsLostLeavesItsJobToTheDuePass(t *testing.T) {
	t.Parallel()
	b := setup(t, func(m model.SchedulesModel) model.SchedulesModel { return lostFireReply{m} })
	s := b.insertDue(t, schedule.Definition{Id: "lost", Cron: "@hourly", Start: startreq.Fields{FunctionId: "echo"}})
	if err := b.scheduler.Pass(context.Background()); err == nil {
		t.Error("a pass whose fire failed reported no error")
	}
	marked := testutil.Query[int](t, b.store.DB, "SELECT COUNT(*) FROM jobs WHERE schedule_id = ? AND enqueued_at IS NOT NULL", s.Id)
	if fired := testutil.Query[int](t, b.store.DB, "SELECT COUNT(*) FROM jobs WHERE schedule_id = ?", s.Id); fired != 1 || marked != 0 {
		t.Errorf("after the fire whose reply was lost: %d jobs, %d marked enqueued, want 1 and none (for the due pass)", fired, marked)
	}
}
