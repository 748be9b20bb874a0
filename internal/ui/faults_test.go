package ui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/ui"
)

// TestDashboardSignsOutWhenTheFeedIsRefused: a list left open while its token expires keeps
// its event stream, until the connection drops; the service then refuses the stream with a
// 401, and the page says so on the sign-in page instead of "Reconnecting…" over a stale list.
func TestDashboardSignsOutWhenTheFeedIsRefused(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	b := newBrowser(t, a, 1280, 800)
	b.open("")
	b.waitFor("the sign-in page", `!!document.getElementById('token')`, 15*time.Second)
	token := a.Token(ui.DevIdentity.Tenant, "tester", 6*time.Second)
	b.run(chromedp.Evaluate(fmt.Sprintf(`sessionStorage.setItem('jobs.token', %q)`, token), nil))
	b.open("#/jobs")
	b.run(chromedp.Reload()) // the hash alone changes no document: load it again, signed in
	b.waitFor("the list, live", `document.getElementById('live').dataset.state === 'live'`, 15*time.Second)

	// Wait out the token (the page's clock is this machine's; the list's own reload on the
	// stream's first reset is long done), then cut the stream.
	exp := eval[float64](b, `JSON.parse(atob(sessionStorage.getItem('jobs.token').split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp`)
	b.waitFor("the token expired", fmt.Sprintf(`Date.now() / 1000 > %f`, exp+0.5), 10*time.Second)
	if b.dropConnections() == 0 {
		t.Fatal("no connections to drop")
	}
	b.waitFor("the sign-in page saying why", `document.getElementById('token') && document.querySelector('.signin [role=alert]').textContent.includes('expired')`, 20*time.Second)
}

// TestDashboardKeepsFocusOnThePager: a list that reloads itself (a job was started) keeps the
// keyboard focus on the page link that had it.
func TestDashboardKeepsFocusOnThePager(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	for i := range 3 {
		api.StartJob(map[string]any{"functionId": "echo", "name": fmt.Sprintf("job-%d", i)})
	}
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs?size=1")
	b.waitFor("the first page", `document.querySelector('main [role=status]').textContent === '3 jobs' && !!document.querySelector('a[rel=next]')`, 15*time.Second)
	b.run(chromedp.Evaluate(`document.querySelector('a[rel=next]').focus()`, nil))

	api.StartJob(map[string]any{"functionId": "echo", "name": "job-3"})
	b.waitFor("the list reloaded", `document.querySelector('main [role=status]').textContent === '4 jobs'`, 15*time.Second)
	if focused := eval[string](b, `document.activeElement.getAttribute('rel') || document.activeElement.tagName`); focused != "next" {
		t.Errorf("after a reload the focus is on %s, not on the Next link", focused)
	}
}

// TestDashboardJobDetailKeepsFocusOnItsActions: the detail page draws its actions again on
// each status change and on the snapshot of a resumed stream; the keyboard focus stays on
// the Cancel button, and after a cancel moves to the Rerun button that replaces it.
func TestDashboardJobDetailKeepsFocusOnItsActions(t *testing.T) {
	tj := openTalkingJob(t, testConfig(t), "focused")
	b, lines := tj.b, tj.lines
	// Found and focused in one task in the page: the page may draw its actions again between two.
	b.waitFor("the Cancel button focused", `(document.getElementById('cancel')?.focus(), document.activeElement.id === 'cancel')`, 10*time.Second)

	// A resumed stream starts with a snapshot, which draws the page again.
	b.dropConnections()
	b.waitFor("the page noticing", `document.getElementById('job-live').dataset.state === 'reconnecting'`, 10*time.Second)
	lines <- "after the snapshot"
	b.waitFor("live again", `document.getElementById('job-log').textContent === 'after the snapshot\n'`, 20*time.Second)
	if focused := eval[string](b, `document.activeElement.id || document.activeElement.tagName`); focused != "cancel" {
		t.Errorf("after the stream resumed the focus is on %s, not on the Cancel button", focused)
	}

	b.run(chromedp.KeyEvent("\r"))
	b.waitFor("the confirmation", `document.activeElement.id === 'confirm-cancel'`, 5*time.Second)
	b.run(chromedp.KeyEvent("\r"))
	// The stream's cancelled event may draw the page before the cancel's answer moves the focus.
	b.waitFor("cancelled, the focus on Rerun", `document.querySelector('#job-status [data-status]').dataset.status === 'cancelled' && document.activeElement.id === 'rerun'`, 10*time.Second)
}

// TestDashboardListComesBackWithMySQL: a list opened while MySQL is away says so, and shows
// the jobs once MySQL is back, with no event or click to reload it (a quiet tenant).
func TestDashboardListComesBackWithMySQL(t *testing.T) {
	c, proxy := configThroughProxy(t)
	a := apptest.StartApp(t, c)
	a.As(ui.DevIdentity.Tenant, "tester").StartJob(map[string]any{"functionId": "echo", "name": "waiting"})
	b := newBrowser(t, a, 1280, 800)
	b.signIn()

	proxy.Cut()
	b.goTo("#/jobs")
	b.waitFor("the outage said", `document.querySelector('main [role=status]').textContent.includes('mysql unavailable')`, 15*time.Second)
	proxy.Restore()
	b.waitFor("the list back", `document.querySelector('main [role=status]').textContent === '1 job'`, 20*time.Second)
}

// TestDashboardJobDetailSaysWhyItWaits: a detail page whose stream drops while MySQL is away
// says so beside "Reconnecting…", and is live again once MySQL is back.
func TestDashboardJobDetailSaysWhyItWaits(t *testing.T) {
	c, proxy := configThroughProxy(t)
	b := openTalkingJob(t, c, "waiting").b

	proxy.Cut()
	b.dropConnections()
	b.waitFor("the reason shown", `document.getElementById('job-live').textContent.includes('mysql unavailable')`, 20*time.Second)
	proxy.Restore()
	b.waitFor("live again", `document.getElementById('job-live').dataset.state === 'live'`, 20*time.Second)
}

// TestDashboardPagePastTheEnd: a page past the last (a stale link, or the last page emptied as
// its jobs ended) says so rather than "No jobs match", links back to the last page with jobs
// instead of to the empty page before it, and offers no Next, even with an estimated total.
func TestDashboardPagePastTheEnd(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t, func(c *config.Config) { c.Limits.ExactTotalUpTo = 2 }))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	for i := range 3 {
		api.StartJob(map[string]any{"functionId": "echo", "name": fmt.Sprintf("job-%d", i)})
	}
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs?size=1&page=6")
	b.waitFor("the empty page", `document.querySelector('main [role=status]').textContent === '2+ jobs'`, 15*time.Second)
	if text := eval[string](b, `document.querySelector('#jobs-table tbody').textContent`); !strings.Contains(text, "No jobs on this page") {
		t.Errorf("past the end the list says %q", text)
	}
	if href := eval[string](b, `document.querySelector('a[rel=prev]')?.getAttribute('href') || ''`); !strings.Contains(href, "page=2") {
		t.Errorf("past the end the link back goes to %q, not to page 2", href)
	}
	if eval[bool](b, `!!document.querySelector('a[rel=next]')`) {
		t.Error("past the end the page links to a next one")
	}
	b.click(`a[rel=prev]`)
	b.waitFor("a page with a job", `location.hash.includes('page=2') && document.querySelectorAll('tr[data-id]').length === 1`, 10*time.Second)
}

// TestDashboardJobDetailComesBackWithMySQL: a job's detail page opened while MySQL is away
// says so, and shows the job once MySQL is back, with no click to reload it, as the lists do.
func TestDashboardJobDetailComesBackWithMySQL(t *testing.T) {
	c, proxy := configThroughProxy(t)
	a := apptest.StartApp(t, c)
	api := a.As(ui.DevIdentity.Tenant, "tester")
	job := api.StartJob(map[string]any{"functionId": "echo", "name": "patient"})
	api.WaitStatus(job.Id, "completed", 10*time.Second)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()

	proxy.Cut()
	b.goTo("#/jobs/" + job.Id)
	b.waitFor("the outage said", `document.querySelector('main [role=alert]')?.textContent.includes('mysql unavailable')`, 15*time.Second)
	proxy.Restore()
	b.waitFor("the job back", `document.querySelector('h1')?.textContent === 'patient' && document.querySelector('#job-status [data-status]')?.dataset.status === 'completed' && !document.querySelector('main [role=alert]:not([hidden])')`, 20*time.Second)
}

// TestDashboardOverviewComesBackWithMySQL: the overview opened while MySQL is away says so,
// and shows the numbers within seconds of MySQL's return, as the lists do, not at its next
// 30 s refresh (a quiet tenant sends no event that would read them sooner).
func TestDashboardOverviewComesBackWithMySQL(t *testing.T) {
	c, proxy := configThroughProxy(t)
	a := apptest.StartApp(t, c)
	api := a.As(ui.DevIdentity.Tenant, "tester")
	api.WaitStatus(api.StartJob(map[string]any{"functionId": "echo", "name": "counted"}).Id, "completed", 10*time.Second)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/functions")

	proxy.Cut()
	b.goTo("#/overview")
	b.waitFor("the outage said", `document.getElementById('updated')?.textContent.includes('mysql unavailable')`, 15*time.Second)
	proxy.Restore()
	b.waitFor("the numbers back", `document.querySelector('#counts [data-status=completed] .n')?.textContent === '1' && document.getElementById('updated').textContent.startsWith('Updated')`, 12*time.Second)
}
