package ui_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"jobs/internal/apptest"
)

// TestDashboardAdminFollowsEveryTenantLive: signed in with an operator token, the jobs list
// of every tenant, and of the one tenant its filter names, changes live: another tenant's new
// job appears and its row moves to completed without a reload. The overview, which shows the
// token's own tenant's numbers, follows that tenant's jobs.
func TestDashboardAdminFollowsEveryTenantLive(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	admin := a.AsAdmin("ops", "olga")
	t1, t2 := a.As("t1", "alice"), a.As("t2", "bob")
	b := newBrowser(t, a, 1280, 800)
	b.open("")
	b.waitFor("the sign-in page", `!!document.getElementById('token')`, 15*time.Second)
	b.run(chromedp.Evaluate(fmt.Sprintf(`sessionStorage.setItem('jobs.token', %q)`, admin.BearerToken()), nil))
	b.open("#/jobs")
	b.run(chromedp.Reload()) // the hash alone changes no document: load it again, signed in
	b.waitFor("the list, live", `document.getElementById('live').dataset.state === 'live' && document.querySelector('main [role=status]').textContent === '0 jobs'`, 15*time.Second)
	b.run(chromedp.Evaluate(`window.notReloaded = true`, nil))

	// Every tenant's list: tenant t1's new job shows up, and its row follows it to completed.
	job := t1.StartJob(map[string]any{"functionId": "sleep", "name": "t1-nap", "params": map[string]any{"seconds": 2}})
	b.waitFor("t1's new job in the list of every tenant", rowSelector(job.Id), 10*time.Second)
	b.waitFor("its row completed", rowSelector(job.Id)+`.dataset.status === 'completed'`, 15*time.Second)
	b.notReloaded()

	// The list of tenant t2 (the admin's tenant filter): t2's job shows up and completes, t1's
	// does not.
	b.goTo("#/jobs?tenant_id=t2")
	b.waitFor("t2's list, with the tenant filter", `document.getElementById('f-tenant_id')?.value === 't2' && document.querySelector('main [role=status]').textContent === '0 jobs'`, 10*time.Second)
	other := t1.StartJob(map[string]any{"functionId": "echo"})
	mine := t2.StartJob(map[string]any{"functionId": "sleep", "name": "t2-nap", "params": map[string]any{"seconds": 1}})
	b.waitFor("t2's new job in t2's list", rowSelector(mine.Id), 10*time.Second)
	b.waitFor("its row completed", rowSelector(mine.Id)+`.dataset.status === 'completed'`, 15*time.Second)
	if eval[bool](b, `!!`+rowSelector(other.Id)) {
		t.Errorf("t2's list shows t1's job %s", other.Id)
	}
	b.notReloaded()

	// The overview counts the admin's own tenant's jobs, and follows them.
	b.goTo("#/overview")
	b.waitFor("the overview, nothing completed in ops", `document.querySelector('#counts [data-status=completed] .n')?.textContent === '0'`, 10*time.Second)
	admin.StartJob(map[string]any{"functionId": "echo"})
	b.waitFor("ops's job counted", `document.querySelector('#counts [data-status=completed] .n').textContent === '1'`, 10*time.Second)
	b.notReloaded()
}

// TestDashboardAdminListNamesEachJobsTenant: in an operator's list of every tenant, each row
// names its job's tenant, on a wide window and on a narrow one, where two jobs of the same
// name in two tenants would otherwise look the same. An ordinary token's list is as before,
// with no tenant anywhere.
func TestDashboardAdminListNamesEachJobsTenant(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	jobs := map[string]apptest.Job{
		"t1": a.As("t1", "alice").StartJob(map[string]any{"functionId": "echo", "name": "same-name"}),
		"t2": a.As("t2", "bob").StartJob(map[string]any{"functionId": "echo", "name": "same-name"}),
	}
	b := newBrowser(t, a, 1280, 800)
	b.signInWith(a.AsAdmin("ops", "olga").BearerToken())
	tenantCell := func(id string) string { return rowSelector(id) + `.querySelector('td[data-label=Tenant]')` }
	tenantHeader := `[...document.querySelectorAll('#jobs-table thead th')].some((th) => th.textContent === 'Tenant')`
	for _, narrow := range []bool{false, true} {
		if narrow {
			b.run(emulation.SetDeviceMetricsOverride(390, 844, 1, true))
		}
		b.goTo("#/jobs?order=asc")
		b.waitFor("both tenants' jobs", fmt.Sprintf(`!!%s && !!%s`, rowSelector(jobs["t1"].Id), rowSelector(jobs["t2"].Id)), 10*time.Second)
		for tenant, job := range jobs {
			cell := tenantCell(job.Id)
			if got := eval[string](b, cell+`?.textContent ?? 'no tenant cell'`); got != tenant {
				t.Errorf("narrow %v: the row of %s's job names tenant %q", narrow, tenant, got)
			} else if !eval[bool](b, cell+`.checkVisibility()`) {
				t.Errorf("narrow %v: the tenant of %s's job is not shown", narrow, tenant)
			}
		}
		if !narrow && !eval[bool](b, tenantHeader) {
			t.Error("the list of every tenant has no Tenant column")
		}
		b.noSidewaysScroll("jobs")
		b.goTo("#/overview") // the next goTo shows the list anew
	}

	b.click("#signout")
	b.signInWith(a.As("t1", "alice").BearerToken())
	b.goTo("#/jobs")
	b.waitFor("t1's job", rowSelector(jobs["t1"].Id), 10*time.Second)
	if eval[bool](b, `!!`+tenantCell(jobs["t1"].Id)+` || `+tenantHeader) {
		t.Error("an ordinary token's list shows a tenant column")
	}
}

// TestDashboardAdminOverviewSaysWhoseNumbers: an operator's header says it is one (not a
// tenant's), the overview says whose numbers it shows (the token's own tenant's: the stats
// are per tenant), and its status cards and backlog links open that tenant's jobs, whose
// count matches the card's, not every tenant's.
func TestDashboardAdminOverviewSaysWhoseNumbers(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	admin := a.AsAdmin("ops", "olga")
	other := a.As("t1", "alice")
	done := []apptest.Job{
		admin.StartJob(map[string]any{"functionId": "echo"}),
		other.StartJob(map[string]any{"functionId": "echo"}),
		other.StartJob(map[string]any{"functionId": "echo"}),
	}
	for _, j := range done {
		admin.WaitStatus(j.Id, "completed", 10*time.Second)
	}
	b := newBrowser(t, a, 1280, 800)
	b.signInWith(admin.BearerToken())
	if who := eval[string](b, `document.getElementById('who').textContent`); !strings.Contains(who, "Operator (all tenants)") {
		t.Errorf("an operator's header reads %q", who)
	}
	b.waitFor("ops's one completed job", `document.querySelector('#counts [data-status=completed] .n')?.textContent === '1'`, 15*time.Second)
	if text := eval[string](b, `document.querySelector('main').innerText`); !strings.Contains(text, "tenant ops") {
		t.Errorf("the overview does not say whose numbers it shows:\n%s", text)
	}
	if href := eval[string](b, `document.querySelector('#backlog-table a').getAttribute('href')`); !strings.Contains(href, "tenant_id=ops") {
		t.Errorf("a backlog link goes to %s, every tenant's jobs", href)
	}
	b.click(`#counts [data-status=completed]`)
	b.waitFor("the list", `location.hash.startsWith('#/jobs') && /^\d+ jobs?$/.test(document.querySelector('main [role=status]').textContent)`, 10*time.Second)
	if n := eval[string](b, `document.querySelector('main [role=status]').textContent`); n != "1 job" {
		t.Errorf("the card counting 1 completed job opens a list of %s", n)
	}

	// Another tenant's numbers, chosen in the page.
	b.goTo("#/overview")
	b.waitFor("the tenant field", `!!document.getElementById('overview-tenant-id')`, 10*time.Second)
	b.run(chromedp.SetValue("#overview-tenant-id", "t1", chromedp.ByID))
	b.click("#overview-tenant button[type=submit]")
	b.waitFor("t1's two completed jobs", `location.hash === '#/overview?tenant_id=t1' && document.querySelector('#counts [data-status=completed] .n')?.textContent === '2'`, 15*time.Second)
	if text := eval[string](b, `document.querySelector('main').innerText`); !strings.Contains(text, "tenant t1") {
		t.Errorf("the overview of t1 does not say so:\n%s", text)
	}
	if href := eval[string](b, `document.querySelector('#counts [data-status=completed]').getAttribute('href')`); !strings.Contains(href, "tenant_id=t1") {
		t.Errorf("t1's completed card links to %s", href)
	}
}

// TestDashboardAdminScheduleLinksItsTenantsJobs: an operator sees two tenants' schedules of
// the same id, each row naming its tenant; each one's link to its jobs lists that tenant's
// jobs only.
func TestDashboardAdminScheduleLinksItsTenantsJobs(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	byTenant := map[string]string{} // job id -> tenant
	for _, tenant := range []string{"t1", "t2"} {
		api := a.As(tenant, "alice")
		api.Do(http.MethodPost, "/api/v1/schedules", map[string]any{"id": "nightly", "cron": "@daily", "functionId": "echo"}).Data(t, nil)
		var job apptest.Job
		api.Do(http.MethodPost, "/api/v1/schedules/nightly/trigger", nil).Data(t, &job)
		byTenant[job.Id] = tenant
	}
	b := newBrowser(t, a, 1280, 800)
	b.signInWith(a.AsAdmin("ops", "olga").BearerToken())
	b.goTo("#/schedules")
	b.waitFor("both tenants' schedules", `document.querySelectorAll('tr[data-id=nightly]').length === 2`, 15*time.Second)
	tenants := eval[[]string](b, `(() => {
		const col = [...document.querySelectorAll('#schedules-table thead th')].findIndex((th) => th.textContent === 'Tenant');
		return col < 0 ? [] : [...document.querySelectorAll('tr[data-id=nightly]')].map((tr) => tr.cells[col].textContent).sort();
	})()`)
	if strings.Join(tenants, ",") != "t1,t2" {
		t.Errorf("the two schedules named nightly name tenants %q", tenants)
	}
	b.click(`tr[data-id=nightly] a`)
	b.waitFor("its jobs", `location.hash.includes('schedule_id=nightly') && /^\d+ jobs?$/.test(document.querySelector('main [role=status]').textContent)`, 10*time.Second)
	shown := eval[[]string](b, `[...document.querySelectorAll('tr[data-id]')].map((tr) => tr.dataset.id)`)
	hash := eval[string](b, `location.hash`)
	if len(shown) != 1 || !strings.Contains(hash, "tenant_id="+byTenant[shown[0]]) {
		t.Errorf("one schedule's link (%s) lists jobs %v of tenants %v", hash, shown, byTenant)
	}
}
