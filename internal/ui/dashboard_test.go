package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
	"jobs/internal/ui"
)

// kathmandu is UTC+05:45 all year: a time shown in it cannot be UTC, nor any whole-hour zone.
var kathmandu = time.FixedZone("Asia/Kathmandu", 5*3600+45*60)

// TestDashboard walks through the dashboard as a user would at 1280x800: sign in, the
// overview, the list, starting a job from a function's form and watching it complete without
// a reload, a live row in the list, a job's detail, cancelling a running job, filtering by
// status and cancelling selected rows. Times are shown in the browser's time zone, and the
// page asks nothing of any host but the app. With JOBS_SCREENSHOTS set, it saves a
// screenshot of each page (make screenshots).
//
// The browser tests of this package run one at a time (no t.Parallel): each runs a Chromium,
// and several at once next to the other packages' tests overload a 2-core machine.
func TestDashboard(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	first := api.StartJob(map[string]any{"functionId": "echo", "name": "nightly-report", "params": map[string]any{"day": "2026-11-20"}})
	failed := api.StartJob(map[string]any{"functionId": "fail", "name": "import-prices", "params": map[string]any{"message": "feed unreachable"}})
	api.WaitStatus(first.Id, "completed", 10*time.Second)
	api.WaitStatus(failed.Id, "failed", 10*time.Second)

	b := newBrowser(t, a, 1280, 800)
	b.run(emulation.SetTimezoneOverride(kathmandu.String()))

	b.open("")
	b.waitFor("the sign-in page", `!!document.getElementById('dev-token')`, 15*time.Second)
	b.screenshot("signin")
	b.signIn()

	// Overview: counts by status, the chart, the backlog table.
	b.waitFor("the overview's counts", `document.querySelector('#counts [data-status=completed] .n')?.textContent === '1'`, 15*time.Second)
	b.waitFor("one failed", `document.querySelector('#counts [data-status=failed] .n').textContent === '1'`, 5*time.Second)
	b.waitFor("the throughput chart", `document.querySelectorAll('#throughput svg rect').length === 120`, 5*time.Second)
	b.waitFor("a backlog row per function", `!!document.querySelector('#backlog-table tr[data-function=sleep]')`, 5*time.Second)
	b.noSidewaysScroll("overview")

	// The list shows both jobs, with times in the browser's zone.
	b.goTo("#/jobs")
	b.waitFor("the list", fmt.Sprintf(`!!%s && !!%s`, rowSelector(first.Id), rowSelector(failed.Id)), 10*time.Second)
	created, err := time.Parse(time.RFC3339Nano, first.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	local := created.In(kathmandu).Format("15:04:05")
	if shown := eval[string](b, rowSelector(first.Id)+`.querySelector('time').textContent`); !strings.Contains(shown, local) {
		t.Errorf("createdAt %s is shown as %q; want the time in the browser's zone, %s", first.CreatedAt, shown, local)
	}
	b.noSidewaysScroll("jobs")

	// Start a job from the sleep function's form: its detail page opens, and its progress
	// bar moves and reaches completed, pushed over its stream.
	b.goTo("#/functions")
	b.waitFor("the functions", `!!document.querySelector('#fn-sleep details')`, 10*time.Second)
	b.noSidewaysScroll("functions")
	b.click(`#fn-sleep summary`)
	b.run(
		chromedp.SendKeys(`#start-sleep-params`, `{"seconds": 3}`, chromedp.ByQuery),
		chromedp.SendKeys(`#start-sleep-name`, `from-the-form`, chromedp.ByQuery),
	)
	b.screenshot("functions")
	b.click(`#fn-sleep button[type=submit]`)
	b.waitFor("the started job's detail", `location.hash.startsWith('#/jobs/') && document.querySelector('h1').textContent === 'from-the-form'`, 10*time.Second)
	id := strings.TrimPrefix(eval[string](b, `location.hash`), "#/jobs/")
	b.waitFor("progress under way", `document.querySelector('#job-progress progress').value >= 1`, 10*time.Second)
	b.waitFor("progress moving on", `document.querySelector('#job-progress progress').value >= 2`, 10*time.Second)
	b.screenshot("job-running")
	b.waitFor("completed", `document.querySelector('#job-status [data-status]').dataset.status === 'completed'`, 10*time.Second)
	if v := eval[[]float64](b, `[document.querySelector('#job-progress progress').value, document.querySelector('#job-progress progress').max]`); v[0] != 3 || v[1] != 3 {
		t.Errorf("the finished job's progress bar is at %v of %v, want 3 of 3", v[0], v[1])
	}
	b.waitFor("the result", `document.getElementById('job-result').textContent.includes('"slept": 3')`, 5*time.Second)
	b.notReloaded()
	if job := api.GetJob(id); job.Name != "from-the-form" || job.Status != "completed" {
		t.Fatalf("the job started from the form: %+v", job)
	}

	// A job started elsewhere shows up in the open list, and its row moves live to completed.
	b.goTo("#/jobs")
	b.waitFor("the list", rowSelector(first.Id), 10*time.Second)
	live := api.StartJob(map[string]any{"functionId": "sleep", "name": "live-row", "params": map[string]any{"seconds": 3}})
	b.waitFor("the new row", rowSelector(live.Id), 10*time.Second)
	b.waitFor("its progress bar moving", rowSelector(live.Id)+`.querySelector('progress').value >= 1`, 10*time.Second)
	b.screenshot("jobs")
	b.waitFor("its row completed", rowSelector(live.Id)+`.dataset.status === 'completed'`, 10*time.Second)
	b.notReloaded()

	// Its detail opens from the row.
	b.click(fmt.Sprintf(`tr[data-id=%q] a`, live.Id))
	b.waitFor("the detail", `document.querySelector('h1').textContent === 'live-row'`, 10*time.Second)
	b.waitFor("its timeline", `document.querySelectorAll('#job-timeline li').length >= 3`, 5*time.Second)
	b.screenshot("job")
	b.noSidewaysScroll("job detail")

	// Cancel a running job from its detail page.
	long := api.StartJob(map[string]any{"functionId": "sleep", "name": "to-cancel", "params": map[string]any{"seconds": 60}})
	api.WaitStatus(long.Id, "running", 10*time.Second)
	b.goTo("#/jobs/" + long.Id)
	b.waitFor("running", `document.querySelector('#job-status [data-status]')?.dataset.status === 'running'`, 10*time.Second)
	b.click("#cancel")
	b.click("#confirm-cancel")
	b.waitFor("cancelled", `document.querySelector('#job-status [data-status]').dataset.status === 'cancelled'`, 10*time.Second)
	if job := api.GetJob(long.Id); job.Status != "cancelled" {
		t.Fatalf("after cancel in the page the job is %s", job.Status)
	}

	// Filter by status: only completed jobs are listed, and all of them.
	b.goTo("#/jobs")
	b.waitFor("the list", rowSelector(long.Id), 10*time.Second)
	b.run(chromedp.SetValue("#f-status", "completed", chromedp.ByID))
	b.click(`#filters button[type=submit]`)
	b.waitFor("the filtered list", `location.hash.includes('status=completed') && !document.querySelector('tr[data-id]:not([data-status=completed])') && document.querySelectorAll('tr[data-status=completed]').length === 3`, 10*time.Second)

	// Select two running jobs and cancel them together.
	one := api.StartJob(map[string]any{"functionId": "sleep", "name": "bulk-1", "params": map[string]any{"seconds": 60}})
	two := api.StartJob(map[string]any{"functionId": "sleep", "name": "bulk-2", "params": map[string]any{"seconds": 60}})
	b.goTo("#/jobs?status=running")
	b.waitFor("both running", fmt.Sprintf(`%s?.dataset.status === 'running' && %s?.dataset.status === 'running'`, rowSelector(one.Id), rowSelector(two.Id)), 15*time.Second)
	b.click(fmt.Sprintf(`tr[data-id=%q] input[type=checkbox]`, one.Id))
	b.click(fmt.Sprintf(`tr[data-id=%q] input[type=checkbox]`, two.Id))
	b.waitFor("two selected", `document.getElementById('bulk-cancel').textContent === 'Cancel selected (2)'`, 5*time.Second)
	b.click("#bulk-cancel")
	b.click("#confirm-cancel")
	for _, j := range []apptest.Job{one, two} {
		api.WaitStatus(j.Id, "cancelled", 10*time.Second)
	}
	b.waitFor("both rows cancelled", fmt.Sprintf(`!%s || %s.dataset.status === 'cancelled'`, rowSelector(one.Id), rowSelector(one.Id)), 10*time.Second)

	// Select the two cancelled jobs and rerun them together: two new jobs that name them.
	b.goTo("#/jobs?status=cancelled")
	b.waitFor("both cancelled listed", fmt.Sprintf(`%s && %s`, rowSelector(one.Id), rowSelector(two.Id)), 10*time.Second)
	b.click(fmt.Sprintf(`tr[data-id=%q] input[type=checkbox]`, one.Id))
	b.click(fmt.Sprintf(`tr[data-id=%q] input[type=checkbox]`, two.Id))
	b.waitFor("two to rerun", `document.getElementById('bulk-rerun').textContent === 'Rerun selected (2)' && document.getElementById('bulk-cancel').disabled`, 5*time.Second)
	b.click("#bulk-rerun")
	b.click("#confirm-rerun")
	for _, j := range []apptest.Job{one, two} {
		var list struct{ Jobs []apptest.Job }
		if !testutil.Eventually(10*time.Second, func() bool {
			err := json.Unmarshal(api.Do(http.MethodGet, "/api/v1/jobs?name="+j.Name, nil).Body, &list)
			return err == nil && len(list.Jobs) == 2 && list.Jobs[0].RerunOf == j.Id
		}) {
			t.Fatalf("after the bulk rerun in the page, jobs named %s: %+v; want the job and its rerun", j.Name, list.Jobs)
		}
	}

	// Rerun a finished job from its detail page: the page moves to the new job, which names it.
	b.goTo("#/jobs/" + long.Id)
	b.waitFor("the rerun button", `document.getElementById('rerun') !== null`, 10*time.Second)
	b.click("#rerun")
	b.waitFor("the new job's page", fmt.Sprintf(`document.getElementById('rerun-of')?.textContent === %q && !location.hash.endsWith(%q)`, long.Id, long.Id), 10*time.Second)
	for _, j := range []apptest.Job{one, two, long} {
		if got := api.GetJob(j.Id); got.Status != "cancelled" {
			t.Errorf("rerun job %s changed to %s", j.Id, got.Status)
		}
	}

	b.goTo("#/overview")
	b.waitFor("the overview", `document.querySelector('#counts [data-status=cancelled] .n')?.textContent === '3'`, 15*time.Second)
	b.screenshot("overview")
	b.notReloaded()
	b.checkOnlyOwnOrigin()
}

// talkingJob is a running talker job, its detail page open and live in a signed-in browser.
type talkingJob struct {
	api   *apptest.App // the app, as the dashboard's development identity
	job   apptest.Job
	b     *browser
	lines chan string // the job's log lines; closing it ends the job
}

// openTalkingJob starts an app of config c with the talker function, starts a talker job
// named name and opens its detail page once its stream is live.
func openTalkingJob(t *testing.T, c config.Config, name string) talkingJob {
	t.Helper()
	lines := make(chan string)
	a := apptest.StartApp(t, c, talker(lines))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	job := api.StartJob(map[string]any{"functionId": "talk", "name": name})
	api.WaitStatus(job.Id, "running", 10*time.Second)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs/" + job.Id)
	b.waitFor("the detail, live", `document.getElementById('job-live').dataset.state === 'live'`, 10*time.Second)
	return talkingJob{api: api, job: job, b: b, lines: lines}
}

// talker is a function whose log lines and end the test decides: each value sent on lines
// is logged as a line; closing it ends the job.
func talker(lines chan string) *functions.Definition {
	return &functions.Definition{ID: "talk", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		Run: func(ctx context.Context, _ functions.Call, r functions.Reporter) (any, error) {
			n := int64(0)
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						return map[string]any{"lines": n}, nil
					}
					n++
					r.Log("stdout", line)
					r.Progress(n, 0, line)
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}}
}

// TestDashboardFollowsLogsAcrossADroppedConnection: the detail page shows a job's log lines
// live; when every connection drops, the page reconnects, resumes where it was (lines logged
// meanwhile appear once, none twice) and the job list catches up with changes it missed.
func TestDashboardFollowsLogsAcrossADroppedConnection(t *testing.T) {
	tj := openTalkingJob(t, testConfig(t), "chatty")
	api, job, b, lines := tj.api, tj.job, tj.b, tj.lines
	logText := `document.getElementById('job-log').textContent`
	lines <- "line 1"
	lines <- "line 2"
	b.waitFor("two lines", logText+` === 'line 1\nline 2\n'`, 10*time.Second)

	if b.dropConnections() == 0 {
		t.Fatal("no connections to drop")
	}
	b.waitFor("the page noticing", `document.getElementById('job-live').dataset.state === 'reconnecting'`, 10*time.Second)
	lines <- "line 3"
	lines <- "line 4"
	b.waitFor("the lines logged while disconnected, once each", logText+` === 'line 1\nline 2\nline 3\nline 4\n'`, 20*time.Second)
	close(lines)
	b.waitFor("completed", `document.querySelector('#job-status [data-status]').dataset.status === 'completed'`, 20*time.Second)
	if got := eval[string](b, logText); got != "line 1\nline 2\nline 3\nline 4\n" {
		t.Errorf("log after the end: %q", got)
	}

	// The list resumes its tenant stream too: a job started while it is cut off appears.
	b.goTo("#/jobs")
	b.waitFor("the list, live", rowSelector(job.Id)+` && document.getElementById('live').dataset.state === 'live'`, 10*time.Second)
	b.dropConnections()
	missed := api.StartJob(map[string]any{"functionId": "echo", "name": "while-away"})
	b.waitFor("the job started while disconnected", rowSelector(missed.Id)+`?.dataset.status === 'completed'`, 20*time.Second)
	b.notReloaded()
	b.checkOnlyOwnOrigin()
}

// TestDashboardJobDetailReloadsOnAReset: when the job's stream says the events it missed are
// no longer all kept (reset), the detail page reloads the job, whose logTail has its latest
// lines, instead of going on with a log that lacks them.
func TestDashboardJobDetailReloadsOnAReset(t *testing.T) {
	tj := openTalkingJob(t, testConfig(t, func(c *config.Config) {
		c.Events.MaxLen = 10
		c.Events.CheckInterval = 200 * time.Millisecond
	}), "gappy")
	api, job, b, lines := tj.api, tj.job, tj.b, tj.lines
	logText := `document.getElementById('job-log').textContent`
	lines <- "line 1"
	b.waitFor("line 1", logText+` === 'line 1\n'`, 10*time.Second)
	api.WaitJob(job.Id, 10*time.Second, "with line 1 kept in MySQL", func(j apptest.Job) bool { return len(j.LogTail) == 1 })

	// While the service's announcements are lost (its subscription reconnecting), the job
	// logs more lines than its event log keeps: what the publish script stores, without the
	// PUBLISH, and what the worker's flush writes to MySQL.
	ctx, rdb, keys := context.Background(), testutil.Redis(t), rediskeys.New(api.Config.Redis.Prefix)
	seq, err := rdb.Get(ctx, keys.JobEventSeq(job.Id)).Int64()
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 12; i++ {
		entry := fmt.Sprintf(`%d log {"stream":"stdout","line":"line %d"}`, seq+i, i+1)
		if err := rdb.RPush(ctx, keys.JobEventLog(job.Id), entry).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.LTrim(ctx, keys.JobEventLog(job.Id), -10, -1).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Exec(t, testutil.DB(t, api.Config.MySQL.DataSource), "update jobs set log_tail = ? where id = ?",
		`[{"stream":"stdout","line":"line 12"},{"stream":"stdout","line":"line 13"}]`, job.Id)
	if err := rdb.Set(ctx, keys.JobEventSeq(job.Id), seq+12, redis.KeepTTL).Err(); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the job reloaded", logText+` === 'line 12\nline 13\n'`, 10*time.Second)
	lines <- "line 14"
	b.waitFor("live lines after the reload", logText+` === 'line 12\nline 13\nline 14\n'`, 10*time.Second)
	close(lines)
	b.waitFor("completed", `document.querySelector('#job-status [data-status]').dataset.status === 'completed'`, 20*time.Second)
	b.notReloaded()
}

// TestDashboardNarrowWindowAndKeyboard: on a phone-sized window nothing scrolls sideways,
// and the dashboard works from the keyboard alone, with the focus visible.
func TestDashboardNarrowWindowAndKeyboard(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	job := api.StartJob(map[string]any{"functionId": "echo", "name": "keyboard-job"})
	api.WaitStatus(job.Id, "completed", 10*time.Second)

	b := newBrowser(t, a, 390, 844)
	b.open("")
	b.waitFor("the sign-in page", `!!document.getElementById('dev-token')`, 15*time.Second)
	b.noSidewaysScroll("sign-in")
	b.tabTo("the development token button", `document.activeElement.id === 'dev-token'`)
	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("signed in", `!document.getElementById('nav').hidden`, 15*time.Second)
	b.waitFor("the overview", `!!document.querySelector('#counts .card') && !!document.querySelector('#throughput svg')`, 10*time.Second)
	b.noSidewaysScroll("overview")
	b.screenshot("overview-narrow")

	b.tabTo("the Jobs link", `document.activeElement.dataset.page === 'jobs'`)
	if style := eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`); style == "none" {
		t.Error("the focused link shows no outline")
	}
	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("the list", rowSelector(job.Id), 10*time.Second)
	b.noSidewaysScroll("jobs")
	b.screenshot("jobs-narrow")
	b.tabTo("the job's link", fmt.Sprintf(`document.activeElement.dataset.key === 'open:%s'`, job.Id))
	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("the detail", `document.querySelector('h1').textContent === 'keyboard-job'`, 10*time.Second)
	b.noSidewaysScroll("job detail")
	b.goTo("#/functions")
	b.waitFor("the functions", `!!document.querySelector('#fn-echo')`, 10*time.Second)
	b.noSidewaysScroll("functions")
}

// tabTo presses Tab until the expression holds (at most 60 times).
func (b *browser) tabTo(what, expression string) {
	b.t.Helper()
	for range 60 {
		if eval[bool](b, expression) {
			return
		}
		b.run(chromedp.KeyEvent("\t"))
	}
	b.t.Fatalf("Tab never reached %s", what)
}
