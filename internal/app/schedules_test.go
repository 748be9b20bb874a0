package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobs/internal/app"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// schedule is the part of a schedule's detail the tests read.
type schedule struct {
	Id             string
	TenantId       string
	Cron           string
	Timezone       string
	Overlap        string
	FunctionId     string
	Name           string
	Env            string
	Source         string
	Paused         bool
	NextRunAt      *string
	Fired          int64
	Triggered      int64
	MissedFires    int64
	OverlapSkipped int64
	LastFireAt     *string
	LastJobId      string
	LastError      string
	NextRuns       []string
	LastJobs       []struct {
		Id           string
		ScheduleId   string
		ScheduledFor *string
		Status       string
	}
}

type scheduledJob struct {
	apptest.Job
	ScheduleId   string  `json:"scheduleId"`
	ScheduledFor *string `json:"scheduledFor"`
}

func getSchedule(t *testing.T, a *apptest.App, id string) schedule {
	t.Helper()
	var s schedule
	a.Do(http.MethodGet, "/api/v1/schedules/"+id, nil).Data(t, &s)
	return s
}

// waitSchedule polls the schedule until cond holds.
func waitSchedule(t *testing.T, a *apptest.App, id string, timeout time.Duration, what string, cond func(schedule) bool) schedule {
	t.Helper()
	var s schedule
	if !testutil.Eventually(timeout, func() bool {
		s = getSchedule(t, a, id)
		return cond(s)
	}) {
		t.Fatalf("schedule %s: not %s within %s; last state: %+v", id, what, timeout, s)
	}
	return s
}

// scheduledJobs lists every job of the schedule through the API, oldest first.
func scheduledJobs(t *testing.T, a *apptest.App, id string) []scheduledJob {
	t.Helper()
	var all []scheduledJob
	for page := 1; ; page++ {
		res := a.Do(http.MethodGet, "/api/v1/jobs?order=asc&size=100&schedule_id="+id+"&page="+strconv.Itoa(page), nil)
		var list struct {
			Jobs  []scheduledJob
			Total int64
		}
		if res.Status != http.StatusOK {
			t.Fatalf("list jobs of schedule %s: %d %s", id, res.Status, res.Body)
		}
		if err := jsonBody(res, &list); err != nil {
			t.Fatal(err)
		}
		all = append(all, list.Jobs...)
		if len(list.Jobs) < 100 {
			return all
		}
	}
}

// byFireTime counts the schedule's jobs by the fire time they were started for.
func byFireTime(t *testing.T, jobs []scheduledJob) map[time.Time]int {
	t.Helper()
	counts := map[time.Time]int{}
	for _, j := range jobs {
		if j.ScheduledFor != nil {
			counts[parseTime(t, j.ScheduledFor)]++
		}
	}
	return counts
}

// Three worker processes share the database and the Redis prefix; an @every 1s schedule
// running for over 10 s starts exactly one job per second: every fire time from the first
// to the last has exactly one job, none is missed, and no job is started twice.
func TestScheduleFiresOncePerSecondAcrossThreeWorkerProcesses(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t)
	api := apptest.StartApp(t, apptest.Config(t, func(cc *config.Config) {
		*cc = c
		cc.Role = "api"
	}))
	for range 3 {
		startProcess(t, c, "worker")
	}
	api.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "every-second", "cron": "@every 1s",
		"functionId": "echo", "params": map[string]any{"n": 1}, "name": "tick", "env": "prod"}).Data(t, nil)
	waitSchedule(t, api, "every-second", 60*time.Second, "fired 12 times", func(s schedule) bool { return s.Fired >= 12 })
	final := api.Do(http.MethodPost, "/api/v1/schedules/every-second/pause", nil)
	var s schedule
	final.Data(t, &s)

	jobs := scheduledJobs(t, api, "every-second")
	counts := byFireTime(t, jobs)
	if int64(len(jobs)) != s.Fired || len(counts) != len(jobs) {
		t.Fatalf("%d jobs for %d fire times, schedule says fired %d: a fire time started more than one job", len(jobs), len(counts), s.Fired)
	}
	if s.MissedFires != 0 || s.OverlapSkipped != 0 {
		t.Errorf("missedFires %d, overlapSkipped %d, want 0", s.MissedFires, s.OverlapSkipped)
	}
	first := parseTime(t, jobs[0].ScheduledFor)
	last := parseTime(t, s.LastFireAt)
	if seconds := int(last.Sub(first) / time.Second); seconds+1 != len(jobs) || last.Sub(first) < 10*time.Second {
		t.Errorf("fire times %s to %s (%d s) have %d jobs, want one per second over at least 10 s", first, last, seconds, len(jobs))
	}
	for at := first; !at.After(last); at = at.Add(time.Second) {
		if counts[at] != 1 {
			t.Errorf("fire time %s has %d jobs, want 1", at.Format(time.RFC3339), counts[at])
		}
	}
	for _, j := range jobs {
		if j.ScheduleId != "every-second" || j.Name != "tick" || j.Env != "prod" || j.FunctionId != "echo" || string(j.Params) != `{"n":1}` {
			t.Fatalf("job %s does not carry the schedule's start request: %+v", j.Id, j)
		}
	}
	// The workers run them.
	api.WaitStatus(jobs[len(jobs)-1].Id, "completed", 30*time.Second)
}

// A restart after everything was down starts the latest missed fire time once, counts the
// older missed ones, and starts no fire time twice.
func TestScheduleRecoversOneMissedFireAfterRestart(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Scheduler.LateGrace = 0 })
	first := apptest.StartApp(t, c)
	first.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "ticker", "cron": "@every 1s", "functionId": "echo"}).Data(t, nil)
	waitSchedule(t, first, "ticker", 30*time.Second, "fired twice", func(s schedule) bool { return s.Fired >= 2 })
	first.Stop(context.Background())
	downSince := time.Now()
	down := getScheduleFromDB(t, c, "ticker")
	// Everything is down for over four fire times: the last fire may have come just before
	// the stop, so at least four fall after it by the restart (three skipped, one recovered).
	for time.Since(downSince) < 4500*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
	}
	restartedAt := time.Now()
	second := apptest.StartApp(t, c)
	after := waitSchedule(t, second, "ticker", 30*time.Second, "firing again", func(s schedule) bool { return s.Fired > down.fired })

	jobs := scheduledJobs(t, second, "ticker")
	counts := byFireTime(t, jobs)
	var recovered *scheduledJob
	for i, j := range jobs {
		at := parseTime(t, j.ScheduledFor)
		if counts[at] != 1 {
			t.Errorf("fire time %s has %d jobs, want 1", at, counts[at])
		}
		if recovered == nil && at.After(down.lastFire) {
			recovered = &jobs[i]
		}
	}
	if recovered == nil {
		t.Fatalf("no job for a fire time after %s, the last before the outage", down.lastFire)
	}
	// The first job after the outage is for the latest fire time due when the scheduler
	// came back (the outage covered at least three); every fire time between the last one
	// before the outage and it was skipped and counted.
	recoveredAt := parseTime(t, recovered.ScheduledFor)
	if created := parseTime(t, &recovered.CreatedAt); created.Before(restartedAt) || !recoveredAt.Before(created) {
		t.Errorf("the recovered job for %s was created at %s; the restart was at %s", recoveredAt, created, restartedAt)
	}
	gap := int64(recoveredAt.Sub(down.lastFire)/time.Second) - 1
	if gap < 3 || after.MissedFires-down.missed < gap {
		t.Errorf("%d fire times between %s and the recovered %s, want at least 3, all counted: missedFires went from %d to %d",
			gap, down.lastFire, recoveredAt, down.missed, after.MissedFires)
	}
	// Every fire time from the first to the last is either a job or counted as missed.
	firstFire, lastFire := parseTime(t, jobs[0].ScheduledFor), parseTime(t, after.LastFireAt)
	if fireTimes := int64(lastFire.Sub(firstFire)/time.Second) + 1; after.Fired+after.MissedFires != fireTimes || int64(len(jobs)) != after.Fired {
		t.Errorf("%d fire times from %s to %s, but fired %d + missed %d (%d jobs)", fireTimes, firstFire, lastFire,
			after.Fired, after.MissedFires, len(jobs))
	}
}

type storedSchedule struct {
	fired, missed int64
	lastFire      time.Time
}

// getScheduleFromDB reads what a schedule's row says while no app serves it.
func getScheduleFromDB(t *testing.T, c config.Config, id string) storedSchedule {
	t.Helper()
	db := testutil.DB(t, c.MySQL.DataSource)
	var s storedSchedule
	if err := db.QueryRow("select `fired`, `missed_fires`, `last_fire_at` from `schedules` where `id` = ?", id).Scan(&s.fired, &s.missed, &s.lastFire); err != nil {
		t.Fatal(err)
	}
	return s
}

// Pause stops the fire times, trigger starts a job now (paused or not) outside them, resume
// goes on from the next fire time without counting the paused ones as missed.
func TestSchedulePauseTriggerResume(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	var created schedule
	a.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "ops.report", "cron": "@every 1s",
		"functionId": "echo", "params": map[string]any{"k": "v"}, "overlap": "skip"}).Data(t, &created)
	if created.Overlap != "skip" || created.Timezone != "UTC" || created.Source != "api" || len(created.NextRuns) != 5 || created.NextRunAt == nil {
		t.Fatalf("created: %+v", created)
	}
	waitSchedule(t, a, "ops.report", 30*time.Second, "fired", func(s schedule) bool { return s.Fired >= 1 })

	var paused schedule
	a.Do(http.MethodPost, "/api/v1/schedules/ops.report/pause", nil).Data(t, &paused)
	if !paused.Paused || paused.NextRunAt != nil || len(paused.NextRuns) != 0 {
		t.Fatalf("paused: %+v", paused)
	}
	// Two and a half fire times pass: nothing starts.
	pausedAt := time.Now()
	for time.Since(pausedAt) < 2500*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
	}
	if s := getSchedule(t, a, "ops.report"); s.Fired != paused.Fired || len(scheduledJobs(t, a, "ops.report")) != int(paused.Fired) {
		t.Fatalf("fired went from %d to %d while paused", paused.Fired, s.Fired)
	}

	var triggered scheduledJob
	a.Do(http.MethodPost, "/api/v1/schedules/ops.report/trigger", nil).Data(t, &triggered)
	if triggered.ScheduleId != "ops.report" || triggered.ScheduledFor != nil || string(triggered.Params) != `{"k":"v"}` || triggered.Status != "pending" {
		t.Fatalf("triggered job: %+v", triggered)
	}
	a.WaitStatus(triggered.Id, "completed", 30*time.Second)
	if s := getSchedule(t, a, "ops.report"); s.Triggered != 1 || s.LastJobId != triggered.Id || s.LastJobs[0].Id != triggered.Id {
		t.Fatalf("after a trigger: %+v", s)
	}

	var resumed schedule
	a.Do(http.MethodPost, "/api/v1/schedules/ops.report/resume", nil).Data(t, &resumed)
	if resumed.Paused || resumed.NextRunAt == nil || parseTime(t, resumed.NextRunAt).Before(time.Now().Add(-time.Second)) {
		t.Fatalf("resumed: %+v", resumed)
	}
	s := waitSchedule(t, a, "ops.report", 30*time.Second, "firing again", func(s schedule) bool { return s.Fired > paused.Fired })
	if s.MissedFires != 0 {
		t.Errorf("missedFires %d after a pause, want 0: paused fire times are not missed", s.MissedFires)
	}
	// Resuming a running schedule and pausing twice change nothing.
	a.Do(http.MethodPost, "/api/v1/schedules/ops.report/resume", nil).Data(t, nil)
	a.Do(http.MethodPost, "/api/v1/schedules/ops.report/pause", nil).Data(t, nil)
	a.Do(http.MethodPost, "/api/v1/schedules/ops.report/pause", nil).Data(t, &paused)
	if !paused.Paused {
		t.Fatalf("paused twice: %+v", paused)
	}
}

// Under overlap skip, a fire time that comes while the schedule's last job is not terminal
// starts nothing and is counted.
func TestScheduleOverlapSkip(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	a.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "slow", "cron": "@every 1s",
		"functionId": "sleep", "params": map[string]any{"seconds": 2.5}, "overlap": "skip"}).Data(t, nil)
	s := waitSchedule(t, a, "slow", 30*time.Second, "skipping fire times", func(s schedule) bool { return s.OverlapSkipped >= 2 && s.Fired >= 1 })
	a.Do(http.MethodPost, "/api/v1/schedules/slow/pause", nil).Data(t, &s)
	jobs := scheduledJobs(t, a, "slow")
	if int64(len(jobs)) != s.Fired {
		t.Fatalf("%d jobs, fired %d", len(jobs), s.Fired)
	}
	// No two of its jobs ran at once.
	for i := 1; i < len(jobs); i++ {
		prev := a.GetJob(jobs[i-1].Id)
		if prev.FinishedAt == nil || parseTime(t, prev.FinishedAt).After(parseTime(t, &jobs[i].CreatedAt)) {
			t.Errorf("job %s started at %s while %s (finished %v) still ran", jobs[i].Id, jobs[i].CreatedAt, prev.Id, prev.FinishedAt)
		}
	}
}

// Bad input is a 4xx envelope naming the field; a duplicate id is a 409; delete answers the
// schedule in a 200 envelope saying deleted, and stops it.
func TestScheduleValidationAndDelete(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	good := map[string]any{"id": "s1", "cron": "*/5 * * * *", "functionId": "echo"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for key, val := range good {
			m[key] = val
		}
		m[k] = v
		return m
	}
	for _, c := range []struct {
		body   any
		status int
		names  string
	}{
		{with("id", ""), 400, "id"},
		{with("id", "has space"), 400, "id"},
		{with("cron", ""), 400, "cron"},
		{with("cron", "* * *"), 400, "cron"},
		{with("cron", "61 * * * *"), 400, "cron"},
		{with("cron", "0 0 30 2 *"), 400, "cron"},
		{with("cron", "@every 500ms"), 400, "cron"},
		{with("cron", "CRON_TZ=Asia/Tokyo * * * * *"), 400, "cron"},
		{with("timezone", "Mars/Olympus"), 400, "timezone"},
		{with("timezone", "Local"), 400, "timezone"},
		{with("overlap", "queue"), 400, "overlap"},
		{with("functionId", "nope"), 400, "functionId"},
		{with("functionId", ""), 400, "functionId"},
		{with("params", []int{1}), 400, "params"},
		{with("maxAttempts", 1000), 400, "maxAttempts"},
		{with("timeoutSeconds", -1), 400, "timeoutSeconds"},
		{with("callbackUrl", "ftp://x"), 400, "callbackUrl"},
		{`{"id": 5}`, 400, "id"},
		{`{"id": "x",`, 400, ""},
	} {
		res := a.Do(http.MethodPost, "/api/v1/schedules", c.body)
		code, msg, _ := res.Envelope(t)
		if res.Status != c.status || code != c.status || !strings.Contains(msg, c.names) {
			t.Errorf("create %v: %d %q, want %d naming %s", c.body, res.Status, msg, c.status, c.names)
		}
	}
	var s schedule
	a.Do(http.MethodPost, "/api/v1/schedules", with("timezone", "America/New_York")).Data(t, &s)
	if s.Timezone != "America/New_York" || s.Cron != "*/5 * * * *" || len(s.NextRuns) != 5 {
		t.Fatalf("created: %+v", s)
	}
	for i, r := range s.NextRuns {
		if at := parseTime(t, &r); at.Minute()%5 != 0 || at.Second() != 0 || (i > 0 && at.Sub(parseTime(t, &s.NextRuns[i-1])) != 5*time.Minute) {
			t.Errorf("next runs of */5: %v", s.NextRuns)
		}
	}
	res := a.Do(http.MethodPost, "/api/v1/schedules", good)
	if code, msg, _ := res.Envelope(t); res.Status != 409 || code != 409 || !strings.Contains(msg, "s1") {
		t.Errorf("duplicate id: %d %q, want 409 naming it", res.Status, msg)
	}
	// An id no schedule can have (not ASCII: the column's character set) is a 404 as well.
	for _, id := range []string{"nope", "%C3%A9t%C3%A9"} {
		for _, m := range []string{"GET /api/v1/schedules/%s", "DELETE /api/v1/schedules/%s", "POST /api/v1/schedules/%s/pause",
			"POST /api/v1/schedules/%s/resume", "POST /api/v1/schedules/%s/trigger"} {
			method, path, _ := strings.Cut(fmt.Sprintf(m, id), " ")
			if res := a.Do(method, path, nil); res.Status != 404 {
				t.Errorf("%s %s: %d %s, want 404", method, path, res.Status, res.Body)
			}
		}
	}
	res = a.Do(http.MethodDelete, "/api/v1/schedules/s1", nil)
	code, msg, _ := res.Envelope(t)
	var deleted schedule
	res.Data(t, &deleted)
	if code != 0 || msg != "deleted" || deleted.Id != "s1" {
		t.Errorf("delete: %d %q %+v", code, msg, deleted)
	}
	if res := a.Do(http.MethodGet, "/api/v1/schedules/s1", nil); res.Status != 404 {
		t.Errorf("after delete: %d", res.Status)
	}
	var list struct{ Schedules []schedule }
	a.Do(http.MethodGet, "/api/v1/schedules", nil).Data(t, &list)
	if list.Schedules == nil || len(list.Schedules) != 0 {
		t.Errorf("list after delete: %+v", list)
	}
}

// A schedule belongs to its tenant: another tenant's token gets 404 on every route and an
// empty list, and may use the same id for a schedule of its own.
func TestSchedulesAreTenantScoped(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	b := a.As("tenant-b", "bob")
	var mine schedule
	a.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "shared-name", "cron": "@every 1s", "functionId": "echo"}).Data(t, &mine)
	if mine.TenantId != apptest.DefaultTenant {
		t.Fatalf("tenant %q", mine.TenantId)
	}
	waitSchedule(t, a, "shared-name", 30*time.Second, "fired", func(s schedule) bool { return s.Fired >= 1 })
	for _, m := range []string{"GET /api/v1/schedules/shared-name", "DELETE /api/v1/schedules/shared-name",
		"POST /api/v1/schedules/shared-name/pause", "POST /api/v1/schedules/shared-name/resume", "POST /api/v1/schedules/shared-name/trigger"} {
		method, path, _ := strings.Cut(m, " ")
		if res := b.Do(method, path, nil); res.Status != 404 {
			t.Errorf("tenant-b %s: %d %s, want 404", m, res.Status, res.Body)
		}
	}
	var list struct{ Schedules []schedule }
	b.Do(http.MethodGet, "/api/v1/schedules", nil).Data(t, &list)
	if len(list.Schedules) != 0 {
		t.Errorf("tenant-b lists %+v", list.Schedules)
	}
	if ids, _ := listIDs(t, b, "?schedule_id=shared-name"); len(ids) != 0 {
		t.Errorf("tenant-b sees jobs of tenant-a's schedule: %v", ids)
	}
	var theirs schedule
	b.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "shared-name", "cron": "@hourly", "functionId": "echo"}).Data(t, &theirs)
	if theirs.TenantId != "tenant-b" || theirs.Cron != "@hourly" || getSchedule(t, a, "shared-name").Cron != "@every 1s" {
		t.Errorf("tenant-b's own schedule: %+v", theirs)
	}
	for _, j := range scheduledJobs(t, a, "shared-name") {
		if j.TenantId != apptest.DefaultTenant || j.Actor != apptest.DefaultActor {
			t.Errorf("job %s of tenant-a's schedule: tenant %q actor %q", j.Id, j.TenantId, j.Actor)
		}
	}
}

// Schedules declared in the config belong to their tenant, show as source config, cannot be
// deleted through the API, and a bad entry fails start-up naming it.
func TestSchedulesDeclaredInConfig(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) {
		c.Schedules = []config.ScheduleConf{{Tenant: apptest.DefaultTenant, Id: "nightly", Cron: "0 3 * * *",
			Timezone: "Europe/Berlin", FunctionId: "echo", Params: map[string]any{"night": true}},
			{Tenant: "tenant-b", Id: "heartbeat", Cron: "@every 1s", FunctionId: "echo", Overlap: "skip"}}
	})
	a := apptest.StartApp(t, c)
	s := waitSchedule(t, a, "nightly", 30*time.Second, "declared", func(schedule) bool { return true })
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if s.Source != "config" || s.Timezone != "Europe/Berlin" || len(s.NextRuns) != 5 {
		t.Fatalf("declared schedule: %+v", s)
	}
	for _, r := range s.NextRuns {
		if at := parseTime(t, &r).In(berlin); at.Hour() != 3 || at.Minute() != 0 {
			t.Errorf("next run %s is %s in Berlin, want 03:00", r, at)
		}
	}
	res := a.Do(http.MethodDelete, "/api/v1/schedules/nightly", nil)
	if _, msg, _ := res.Envelope(t); res.Status != 409 || !strings.Contains(msg, "config") {
		t.Errorf("delete of a config schedule: %d %q, want 409", res.Status, msg)
	}
	b := a.As("tenant-b", "bob")
	if res := b.Do(http.MethodGet, "/api/v1/schedules/nightly", nil); res.Status != 404 {
		t.Errorf("tenant-b reads tenant-a's config schedule: %d", res.Status)
	}
	waitSchedule(t, b, "heartbeat", 30*time.Second, "fired", func(s schedule) bool { return s.Fired >= 1 && s.Source == "config" })

	// A second start with one schedule changed and one gone: the changed one is updated in
	// place, the gone one deleted.
	a.Stop(context.Background())
	c.Schedules = c.Schedules[:1]
	c.Schedules[0].Cron = "30 4 * * *"
	again := apptest.StartApp(t, c)
	waitSchedule(t, again, "nightly", 30*time.Second, "updated", func(s schedule) bool { return s.Cron == "30 4 * * *" })
	if res := again.As("tenant-b", "bob").Do(http.MethodGet, "/api/v1/schedules/heartbeat", nil); res.Status != 404 {
		t.Errorf("a schedule no longer declared: %d, want 404", res.Status)
	}

	bad := c
	bad.Schedules = []config.ScheduleConf{{Tenant: "t", Id: "x", Cron: "every day", FunctionId: "echo"}}
	if _, err := app.New(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "Schedules[0]") || !strings.Contains(err.Error(), "cron") {
		t.Errorf("bad declared schedule: %v, want an error naming Schedules[0] and cron", err)
	}
}

// An admin token lists every tenant's schedules (or tenant_id's) and acts on any tenant's
// schedule named with tenant_id; an ordinary token naming another tenant gets a 403, and
// naming its own behaves as without it.
func TestSchedulesAdminToken(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	b := a.As("tenant-b", "bob")
	admin := a.AsAdmin("ops", "operator")
	a.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "report", "cron": "@hourly", "functionId": "echo"}).Data(t, nil)
	b.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "report", "cron": "@daily", "functionId": "echo"}).Data(t, nil)
	b.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "backup", "cron": "@weekly", "functionId": "echo"}).Data(t, nil)

	list := func(v *apptest.App, query string) []string {
		t.Helper()
		var l struct{ Schedules []schedule }
		v.Do(http.MethodGet, "/api/v1/schedules"+query, nil).Data(t, &l)
		var keys []string
		for _, s := range l.Schedules {
			keys = append(keys, s.TenantId+"/"+s.Id)
		}
		return keys
	}
	if got := strings.Join(list(admin, ""), " "); got != "tenant-a/report tenant-b/backup tenant-b/report" {
		t.Errorf("admin lists %q", got)
	}
	if got := strings.Join(list(admin, "?tenant_id=tenant-b"), " "); got != "tenant-b/backup tenant-b/report" {
		t.Errorf("admin lists tenant-b's: %q", got)
	}
	if got := strings.Join(list(a, "?tenant_id="+apptest.DefaultTenant), " "); got != "tenant-a/report" {
		t.Errorf("tenant-a names itself: %q", got)
	}
	if res := admin.Do(http.MethodGet, "/api/v1/schedules?tenant_id=no%20such", nil); res.Status != 400 {
		t.Errorf("admin lists a malformed tenant: %d %s", res.Status, res.Body)
	}

	// Routes of one schedule: the admin names the tenant; without it, its own (none here).
	if res := admin.Do(http.MethodGet, "/api/v1/schedules/report", nil); res.Status != 404 {
		t.Errorf("admin without tenant_id: %d, want 404 (its own tenant has no such schedule)", res.Status)
	}
	var s schedule
	admin.Do(http.MethodGet, "/api/v1/schedules/report?tenant_id=tenant-b", nil).Data(t, &s)
	if s.TenantId != "tenant-b" || s.Cron != "@daily" {
		t.Fatalf("admin reads tenant-b's report: %+v", s)
	}
	admin.Do(http.MethodPost, "/api/v1/schedules/report/pause?tenant_id=tenant-b", nil).Data(t, &s)
	if !s.Paused || getSchedule(t, b, "report").Paused != true || getSchedule(t, a, "report").Paused {
		t.Errorf("admin paused tenant-b's report: %+v", s)
	}
	admin.Do(http.MethodPost, "/api/v1/schedules/report/resume?tenant_id=tenant-b", nil).Data(t, nil)
	var job scheduledJob
	admin.Do(http.MethodPost, "/api/v1/schedules/report/trigger?tenant_id=tenant-b", nil).Data(t, &job)
	if job.TenantId != "tenant-b" || job.Actor != "bob" || job.ScheduleId != "report" {
		t.Errorf("admin triggered tenant-b's report: %+v", job.Job)
	}
	if b.GetJob(job.Id).Id != job.Id {
		t.Errorf("tenant-b does not see the job its schedule started")
	}
	admin.Do(http.MethodDelete, "/api/v1/schedules/backup?tenant_id=tenant-b", nil).Data(t, nil)
	if got := strings.Join(list(b, ""), " "); got != "tenant-b/report" {
		t.Errorf("tenant-b after the admin's delete: %q", got)
	}

	// An ordinary token naming another tenant: 403 on every route.
	if res := a.Do(http.MethodGet, "/api/v1/schedules?tenant_id=tenant-b", nil); res.Status != 403 {
		t.Errorf("tenant-a lists tenant-b's: %d", res.Status)
	}
	for _, m := range []string{"GET /api/v1/schedules/report", "DELETE /api/v1/schedules/report",
		"POST /api/v1/schedules/report/pause", "POST /api/v1/schedules/report/resume", "POST /api/v1/schedules/report/trigger"} {
		method, path, _ := strings.Cut(m, " ")
		res := a.Do(method, path+"?tenant_id=tenant-b", nil)
		if code, msg, _ := res.Envelope(t); res.Status != 403 || code != 403 || !strings.Contains(msg, "tenant_id") {
			t.Errorf("tenant-a %s?tenant_id=tenant-b: %d %q, want 403 naming tenant_id", m, res.Status, msg)
		}
	}
	if getSchedule(t, b, "report").Triggered != 1 {
		t.Errorf("a refused trigger started a job")
	}
	a.Do(http.MethodGet, "/api/v1/schedules/report?tenant_id="+apptest.DefaultTenant, nil).Data(t, &s)
	if s.TenantId != apptest.DefaultTenant {
		t.Errorf("tenant-a naming itself: %+v", s)
	}
}
