package ui_test

import (
	"encoding/json"
	"fmt"
	"github.com/chromedp/chromedp"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/auth"
	"jobs/internal/ui"
)

// TestDashboardLongAndHostileText: what jobs carry is shown as text, whatever it is: markup
// in a name, an actor or a result does not run, non-ASCII reads as sent, and a long name or
// error without spaces wraps inside its column instead of pushing the list's other columns
// (status, progress, actions' checkboxes aside) out of the window.
func TestDashboardLongAndHostileText(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	markup := `<img src=x onerror="window.pwned=1">`
	hostile := api.StartJob(map[string]any{"functionId": "echo", "name": markup, "actor": "<b>bold</b>",
		"params": map[string]any{"html": "<script>window.pwned=2</script>"}})
	unicode := api.StartJob(map[string]any{"functionId": "echo", "name": "Überweisung – naïve café ✓"})
	long := api.StartJob(map[string]any{"functionId": "fail", "name": strings.Repeat("nightlyreconciliation", 12),
		"params": map[string]any{"message": strings.Repeat("upstreamrefusedtheconnection", 20)}})
	for _, j := range []apptest.Job{hostile, unicode, long} {
		api.WaitJob(j.Id, 10*time.Second, "ended", func(j apptest.Job) bool { return j.FinishedAt != nil })
	}

	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs")
	b.waitFor("the list", rowSelector(long.Id)+` && `+rowSelector(hostile.Id)+` && `+rowSelector(unicode.Id), 10*time.Second)
	if got := eval[string](b, rowSelector(hostile.Id)+`.querySelector('a').textContent`); got != markup {
		t.Errorf("the markup name is shown as %q, want the text %q", got, markup)
	}
	if got := eval[string](b, rowSelector(unicode.Id)+`.querySelector('a').textContent`); got != unicode.Name {
		t.Errorf("the non-ASCII name is shown as %q, want %q", got, unicode.Name)
	}
	fits := func(width int) {
		t.Helper()
		if w := eval[[]int](b, `[document.querySelector('.table-wrap').scrollWidth, document.querySelector('.table-wrap').clientWidth]`); w[0] > w[1] {
			t.Errorf("%d px window: with a long name and error the job table is %d px wide in its %d px: the other columns are off the window", width, w[0], w[1])
		}
		if right := eval[float64](b, rowSelector(long.Id)+`.querySelector('[data-status]').getBoundingClientRect().right`); right > float64(width) {
			t.Errorf("%d px window: the long job's status badge is at x=%v, outside the window", width, right)
		}
	}
	fits(1280)
	b.screenshot("jobs-long-text")

	b.goTo("#/jobs/" + hostile.Id)
	b.waitFor("the detail", `document.getElementById('job-live').dataset.state === 'done'`, 10*time.Second)
	if got := eval[string](b, `document.querySelector('h1').textContent`); got != markup {
		t.Errorf("the detail's title is %q, want the text %q", got, markup)
	}
	if !strings.Contains(eval[string](b, `document.getElementById('job-result').textContent`), "<script>window.pwned=2</script>") {
		t.Error("the result's markup is not shown as text")
	}
	if eval[bool](b, `window.pwned !== undefined || !!document.querySelector('main img, main script, main b')`) {
		t.Error("markup a job carries became part of the page")
	}

	// On a phone, each job is a card: the long one's wraps inside it too.
	b = newBrowser(t, a, 390, 844)
	b.signIn()
	b.goTo("#/jobs")
	b.waitFor("the list", rowSelector(long.Id), 10*time.Second)
	fits(390)
	b.screenshot("jobs-long-text-narrow")
}

// TestDashboardShowsNumbersAsStored: a job's params and result are shown as the service
// stores them: an id beyond a double's 53 bits, or a price written 1.50, is not rounded or
// reformatted on the way to the page.
func TestDashboardShowsNumbersAsStored(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	params := json.RawMessage(`{"userId": 12345678901234567891, "price": 1.50, "small": 7}`)
	job := api.StartJob(map[string]any{"functionId": "echo", "name": "big-numbers", "params": params})
	done := api.WaitStatus(job.Id, "completed", 10*time.Second)
	if !strings.Contains(string(done.Result), "12345678901234567891") {
		t.Fatalf("the service itself changed the number: result %s", done.Result)
	}

	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs/" + job.Id)
	b.waitFor("the detail", `document.getElementById('job-live').dataset.state === 'done'`, 10*time.Second)
	for _, box := range []string{"job-params", "job-result"} {
		got := eval[string](b, fmt.Sprintf(`document.getElementById(%q).textContent`, box))
		for _, want := range []string{`"userId": 12345678901234567891`, `"price": 1.50`, `"small": 7`} {
			if !strings.Contains(got, want) {
				t.Errorf("#%s shows %s; want it to hold %s", box, got, want)
			}
		}
	}
}

// TestDashboardStatusFilterFollowsJobsThatStart: the list of pending jobs, left open while one
// of them starts, drops it and counts one fewer: it does not go on listing, as pending, a job
// that runs (until that job ends, minutes later).
func TestDashboardStatusFilterFollowsJobsThatStart(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	stays := api.StartJob(map[string]any{"functionId": "sleep", "name": "tomorrow", "runAt": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339Nano)})

	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs?status=pending")
	b.waitFor("the pending job", rowSelector(stays.Id)+` && document.querySelector('main [role=status]').textContent === '1 job'`, 10*time.Second)
	// Started now, due in a few seconds: the open list shows it (its creation is an event),
	// and then nothing else happens in the tenant but its start.
	due := time.Now().Add(5 * time.Second).UTC().Format(time.RFC3339Nano)
	soon := api.StartJob(map[string]any{"functionId": "sleep", "name": "soon", "runAt": due, "params": map[string]any{"seconds": 3600}})
	b.waitFor("both pending jobs", rowSelector(soon.Id)+` && document.querySelector('main [role=status]').textContent === '2 jobs'`, 5*time.Second)
	api.WaitStatus(soon.Id, "running", 15*time.Second)
	b.waitFor("the started job gone from the pending list", fmt.Sprintf(`!%s && %s && document.querySelector('main [role=status]').textContent === '1 job'`,
		rowSelector(soon.Id), rowSelector(stays.Id)), 10*time.Second)
	b.notReloaded()
}

// TestDashboardSignInTakesAWrappedToken: a token copied from a terminal that wrapped it comes
// with line breaks; the sign-in form takes it (a token holds no white space), instead of
// saying that the service cannot be reached.
func TestDashboardSignInTakesAWrappedToken(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	token := a.Token(ui.DevIdentity.Tenant, "wrapped", time.Hour)
	b := newBrowser(t, a, 1280, 800)
	wrapped := "Bearer " + token[:40] + "\n" + token[40:80] + "\n  " + token[80:] + "\n"
	b.open("")
	b.waitFor("the sign-in page", `!!document.getElementById('token')`, 15*time.Second)
	b.run(chromedp.Evaluate(fmt.Sprintf(`document.getElementById('token').value = %q`, wrapped), nil))
	b.click(".signin button[type=submit]")
	b.waitFor("signed in", `!document.getElementById('nav').hidden`, 10*time.Second)
	b.waitFor("the actor in the header", `document.getElementById('who').textContent.includes('wrapped')`, 5*time.Second)
}

// TestDashboardSignInSaysWhyATokenIsRefused: a token the service refuses is answered on the
// sign-in form with the reason, not with "Signed out", and the pasted token stays in the form
// to be checked.
func TestDashboardSignInSaysWhyATokenIsRefused(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	token, err := auth.Mint("some-other-secret-that-is-long-enough-0123456789", auth.Identity{Tenant: "t1", Actor: "me"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, a, 1280, 800)
	b.open("")
	b.run(chromedp.WaitVisible("#token", chromedp.ByID), chromedp.SetValue("#token", token, chromedp.ByID))
	b.click(".signin button[type=submit]")
	b.waitFor("the reason", `document.querySelector('.signin [role=alert]').textContent !== ''`, 10*time.Second)
	if got := eval[string](b, `document.querySelector('.signin [role=alert]').textContent`); !strings.HasPrefix(got, "That token was refused: ") {
		t.Errorf("a refused token is answered with %q", got)
	}
	if got := eval[string](b, `document.getElementById('token').value`); got != token {
		t.Errorf("after the refusal the form holds %q, not the pasted token", got)
	}
}

// TestDashboardSkipLinkKeepsTheView: "Skip to content" moves the keyboard focus to the page's
// content without changing the address, so a reload afterwards shows the same filtered list
// (not the overview that an address ending in #main would).
func TestDashboardSkipLinkKeepsTheView(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t))
	api := a.As(ui.DevIdentity.Tenant, "tester")
	job := api.StartJob(map[string]any{"functionId": "fail", "name": "broken"})
	api.WaitStatus(job.Id, "failed", 10*time.Second)
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/jobs?status=failed")
	b.waitFor("the list", rowSelector(job.Id), 10*time.Second)
	b.run(chromedp.Evaluate(`document.querySelector('.skip').focus()`, nil), chromedp.KeyEvent("\r"))
	b.waitFor("the focus on the content", `document.activeElement.id === 'main'`, 5*time.Second)
	if hash := eval[string](b, `location.hash`); hash != "#/jobs?status=failed" {
		t.Errorf("after the skip link the address ends in %q", hash)
	}
	b.run(chromedp.Reload())
	b.waitFor("the same list after a reload", `location.hash === '#/jobs?status=failed' && `+rowSelector(job.Id), 10*time.Second)
}
