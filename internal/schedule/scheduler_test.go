package schedule_test

import (
	"context"
	"encoding/json"
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
	store     *testutil.Store
	schedules model.SchedulesModel
	rules     startreq.Rules
	scheduler *schedule.Scheduler
}

// setup gives a scheduler of its own database and Redis prefix, with the built-in
// functions, not started: a test runs its passes.
func setup(t *testing.T) *testBundle {
	t.Helper()
	store := testutil.NewStore(t)
	schedules := model.NewSchedulesModel(sqlx.NewSqlConnFromDB(store.DB))
	reg, err := functions.NewRegistry(functions.Builtins()...)
	if err != nil {
		t.Fatal(err)
	}
	rules := startreq.Rules{Functions: reg, Limits: config.LimitsConf{MaxParamsBytes: 65536, MaxAttempts: 20, MaxTimeoutSeconds: 86400}}
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	bus := events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute})
	s := schedule.NewScheduler(schedule.Config{Interval: time.Hour, LateGrace: 5 * time.Second}, nil, schedules, rules,
		dispatch.New(store.Jobs, queue.New(rdb, prefix)), bus)
	return &testBundle{store: store, schedules: schedules, rules: rules, scheduler: s}
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
