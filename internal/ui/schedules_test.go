package ui_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jobs/internal/apptest"
	"jobs/internal/ui"
)

// TestDashboardSchedules: the Schedules page creates a schedule from its form (a bad cron is
// refused with the service's message naming cron), shows its fire count moving, pauses,
// resumes and runs it now, links to its jobs, and deletes it after a confirmation.
func TestDashboardSchedules(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/schedules")
	b.waitFor("the empty list and the form", `document.querySelector('#schedules-table tbody').textContent.includes('No schedules') && document.querySelectorAll('#s-functionId option').length > 1`, 15*time.Second)

	b.run(
		chromedp.SendKeys("#s-id", "ui-tick", chromedp.ByID),
		chromedp.SendKeys("#s-cron", "every second", chromedp.ByID),
		chromedp.SetValue("#s-functionId", "echo", chromedp.ByID),
	)
	b.click(`#new-schedule button[type=submit]`)
	b.waitFor("the refusal naming cron", `document.getElementById('new-schedule-error').textContent.includes('cron')`, 10*time.Second)
	b.run(
		chromedp.SetValue("#s-cron", "@every 1s", chromedp.ByID),
		chromedp.SetValue("#s-timezone", "UTC", chromedp.ByID),
		chromedp.SendKeys("#s-params", `{"from": "ui"}`, chromedp.ByID),
	)
	b.click(`#new-schedule button[type=submit]`)
	row := `document.querySelector('tr[data-id="ui-tick"]')`
	b.waitFor("its row", `!!`+row, 10*time.Second)
	b.waitFor("fires counted live", row+`.querySelector('[data-count=fired]').textContent !== '0'`, 15*time.Second)
	b.noSidewaysScroll("schedules")
	b.screenshot("schedules")
	if eval[bool](b, `[...document.querySelectorAll('#schedules-table thead th')].some((th) => th.textContent === 'Tenant')`) {
		t.Error("an ordinary token's schedules have a Tenant column")
	}

	b.click(`tr[data-id="ui-tick"] [data-action=pause]`)
	b.waitFor("paused", row+`?.dataset.paused === 'true'`, 10*time.Second)
	var s struct {
		Paused    bool
		Triggered int64
		Params    map[string]string
	}
	api.Do(http.MethodGet, "/api/v1/schedules/ui-tick", nil).Data(t, &s)
	if !s.Paused || s.Params["from"] != "ui" {
		t.Fatalf("after pause in the page: %+v", s)
	}
	b.click(`tr[data-id="ui-tick"] [data-action=trigger]`)
	b.waitFor("the toast of the started job", `document.getElementById('toast').textContent.startsWith('Started job')`, 10*time.Second)
	b.click(`tr[data-id="ui-tick"] [data-action=resume]`)
	b.waitFor("resumed", row+`?.dataset.paused === 'false'`, 10*time.Second)
	api.Do(http.MethodGet, "/api/v1/schedules/ui-tick", nil).Data(t, &s)
	if s.Paused || s.Triggered != 1 {
		t.Fatalf("after trigger and resume in the page: %+v", s)
	}

	// Its jobs, through the link.
	b.click(`tr[data-id="ui-tick"] a`)
	b.waitFor("the jobs list filtered by schedule", `location.hash.includes('schedule_id=ui-tick') && document.querySelectorAll('tr[data-id]').length > 0 && document.getElementById('f-schedule_id').value === 'ui-tick'`, 10*time.Second)

	b.goTo("#/schedules")
	b.waitFor("its row", `!!`+row, 10*time.Second)
	b.click(`tr[data-id="ui-tick"] [data-action=ask-delete]`)
	b.click(`tr[data-id="ui-tick"] [data-action=delete]`)
	b.waitFor("the row gone", `!`+row, 10*time.Second)
	if res := api.Do(http.MethodGet, "/api/v1/schedules/ui-tick", nil); res.Status != http.StatusNotFound {
		t.Fatalf("after delete in the page: %d", res.Status)
	}
	b.notReloaded()
	b.checkOnlyOwnOrigin()
}

// TestDashboardSchedulesActOnce: a double click acts once. Run now starts one job, and the
// create form creates its schedule without then showing the second click's "exists".
func TestDashboardSchedulesActOnce(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/schedules")
	b.waitFor("the form", `document.querySelectorAll('#s-functionId option').length > 1`, 15*time.Second)
	b.run(
		chromedp.SendKeys("#s-id", "twice", chromedp.ByID),
		chromedp.SendKeys("#s-cron", "@daily", chromedp.ByID),
		chromedp.SetValue("#s-functionId", "echo", chromedp.ByID),
		chromedp.Evaluate(`{ const b = document.querySelector('#new-schedule button[type=submit]'); b.click(); b.click(); }`, nil),
	)
	row := `document.querySelector('tr[data-id="twice"]')`
	b.waitFor("its row", `!!`+row, 10*time.Second)
	b.waitFor("the form emptied", `document.getElementById('s-id').value === ''`, 10*time.Second)
	if msg := eval[string](b, `document.getElementById('new-schedule-error').textContent`); msg != "" {
		t.Errorf("after a double click on Create the form says %q", msg)
	}

	b.run(chromedp.Evaluate(row+`.querySelector('[data-action=trigger]').click(); `+row+`.querySelector('[data-action=trigger]').click()`, nil))
	b.waitFor("the toast of the started job", `document.getElementById('toast').textContent.startsWith('Started job')`, 10*time.Second)
	var s struct{ Triggered int64 }
	api.Do(http.MethodGet, "/api/v1/schedules/twice", nil).Data(t, &s)
	if s.Triggered != 1 {
		t.Errorf("a double click on Run now started %d jobs", s.Triggered)
	}
}

// TestDashboardSchedulesFromTheKeyboard: Enter on a schedule's action leaves the focus on
// that row's control in the list drawn again (Pause becomes Resume), and Delete moves it to
// the confirmation that replaces it.
func TestDashboardSchedulesFromTheKeyboard(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	api.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "keys", "cron": "@daily", "functionId": "echo"}).Data(t, nil)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/schedules")
	row := `document.querySelector('tr[data-id="keys"]')`
	b.waitFor("its row", `!!`+row, 15*time.Second)

	b.tabTo("Pause", `document.activeElement.dataset.action === 'pause'`)
	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("paused, the focus on Resume", row+`?.dataset.paused === 'true' && document.activeElement === `+row+`.querySelector('[data-action=resume]')`, 10*time.Second)
	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("resumed, the focus on Pause", row+`?.dataset.paused === 'false' && document.activeElement === `+row+`.querySelector('[data-action=pause]')`, 10*time.Second)

	b.tabTo("Delete", `document.activeElement.dataset.action === 'ask-delete'`)
	b.run(chromedp.KeyEvent("\r"))
	if action := eval[string](b, `document.activeElement.dataset.action || document.activeElement.tagName`); action != "delete" {
		t.Fatalf("after Enter on Delete the focus is on %s, not on the confirmation", action)
	}
	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("the row gone", `!`+row, 10*time.Second)
}

// TestDashboardSchedulesComeBackWithMySQL: the Schedules page opened while MySQL is away says
// so in the page (not only in a toast that goes), and shows the schedules once MySQL is back,
// with no click or event to reload it.
func TestDashboardSchedulesComeBackWithMySQL(t *testing.T) {
	c, proxy := configThroughProxy(t)
	a := apptest.StartApp(t, c)
	a.As(ui.DevIdentity.Tenant, "tester").Do(http.MethodPost, "/api/v1/schedules",
		map[string]any{"id": "steady", "cron": "@daily", "functionId": "echo"}).Data(t, nil)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()

	proxy.Cut()
	b.goTo("#/schedules")
	// In the page, beside the table: a toast goes after a few seconds.
	b.waitFor("the outage said", `document.getElementById('schedules-error')?.textContent.includes('mysql unavailable')`, 15*time.Second)
	proxy.Restore()
	b.waitFor("the schedules back", `!!document.querySelector('tr[data-id="steady"]') && document.getElementById('schedules-error').hidden`, 20*time.Second)
}

// TestDashboardSchedulesFollowWhileJobsPourIn: the list follows its schedules' fires while the
// tenant's jobs are created faster than the page's 300 ms wait (it waited for a quiet moment,
// which a busy tenant, or an operator hearing every tenant, never has).
func TestDashboardSchedulesFollowWhileJobsPourIn(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/schedules")
	b.waitFor("the empty list", `document.querySelector('#schedules-table tbody').textContent.includes('No schedules')`, 15*time.Second)

	stop := make(chan struct{})
	poured := make(chan struct{})
	go func() {
		defer close(poured)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				api.Do(http.MethodPost, "/api/v1/jobs", map[string]any{"functionId": "echo"})
			}
		}
	}()
	defer func() { close(stop); <-poured }()
	// Created elsewhere: the page learns of it from the jobs its fires start.
	if res := api.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "busy", "cron": "@every 1s", "functionId": "echo"}); res.Status != http.StatusOK {
		t.Fatalf("create the schedule: %d %s", res.Status, res.Body)
	}
	row := `document.querySelector('tr[data-id="busy"]')`
	b.waitFor("its fires counted while jobs pour in", `!!`+row+` && `+row+`.querySelector('[data-count=fired]').textContent !== '0'`, 15*time.Second)
}

// TestDashboardSchedulesDeleteConfirmationOutlivesARedraw: Delete's "Really delete?" stays
// while the list is drawn again (a schedule firing every second redraws it each second), so
// the user has the time to read it and confirm.
func TestDashboardSchedulesDeleteConfirmationOutlivesARedraw(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	api.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "ticking", "cron": "@every 1s", "functionId": "echo"}).Data(t, nil)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/schedules")
	row := `document.querySelector('tr[data-id="ticking"]')`
	fired := row + `?.querySelector('[data-count=fired]').textContent`
	b.waitFor("its fires counted", fired+` > 0`, 15*time.Second)

	b.click(`tr[data-id="ticking"] [data-action=ask-delete]`)
	before := eval[string](b, fired)
	b.waitFor("the list drawn again with a new fire", fired+` !== `+strconv.Quote(before), 15*time.Second)
	if !eval[bool](b, `!!`+row+`.querySelector('[data-action=delete]')`) {
		t.Fatal("the list drawn again took the confirmation away")
	}
	b.click(`tr[data-id="ticking"] [data-action=delete]`)
	b.waitFor("the row gone", `!`+row, 10*time.Second)
}
