package ui_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// testConfig is apptest.Config with a one-minute lease: these tests keep jobs running while
// they look at the page, and with the tests' 1 s lease a heartbeat held up a second on a
// loaded machine lost the job (failed or retried as "worker lost", then its page showed
// another attempt or status than the test's). None of them tests a lost worker.
func testConfig(t *testing.T, mutate ...func(*config.Config)) config.Config {
	t.Helper()
	return apptest.Config(t, append([]func(*config.Config){func(c *config.Config) { c.Worker.Lease = time.Minute }}, mutate...)...)
}

// configThroughProxy is testConfig with MySQL reached through a proxy the test can cut.
func configThroughProxy(t *testing.T) (config.Config, *testutil.Proxy) {
	t.Helper()
	c := testConfig(t)
	dsn, proxy := testutil.ThroughProxy(t, c.MySQL.DataSource)
	c.MySQL.DataSource = dsn
	return c, proxy
}

// browser is headless Chromium driven over the DevTools protocol, showing the dashboard of
// a real app served on a listener of the test's own, which can drop every connection.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the app's URL as the page sees it

	mu       sync.Mutex
	requests []string // every URL the page asked for
	conns    map[net.Conn]bool
}

// newBrowser starts Chromium (Debian's chromium, with the project's flags) with a window of
// width x height, and serves a's handler to it.
func newBrowser(t *testing.T, a *apptest.App, width, height int) *browser {
	t.Helper()
	chromium := testutil.Chromium(t)
	b := &browser{t: t, conns: make(map[net.Conn]bool)}
	handler, err := a.Handler()
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewUnstartedServer(handler)
	site.Config.ConnState = func(c net.Conn, state http.ConnState) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if state == http.StateClosed {
			delete(b.conns, c)
		} else {
			b.conns[c] = true
		}
	}
	site.Start()
	t.Cleanup(site.Close)
	b.base = site.URL

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(width, height))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	chromedp.ListenTarget(ctx, func(ev any) {
		if req, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.requests = append(b.requests, req.Request.URL)
			b.mu.Unlock()
		}
	})
	b.ctx = ctx
	// The first Run starts the browser, which lives as long as that call's context: no timeout.
	if err := chromedp.Run(ctx, network.Enable(),
		emulation.SetDeviceMetricsOverride(int64(width), int64(height), 1, width < 600)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// run performs actions, failing the test if they take over 30 s.
func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (page at %s)", err, b.location())
	}
}

func (b *browser) location() string {
	var loc string
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_ = chromedp.Run(ctx, chromedp.Location(&loc))
	return loc
}

// waitFor waits until the JavaScript expression is truthy.
func (b *browser) waitFor(what, expression string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	var ok bool
	if err := chromedp.Run(ctx, chromedp.Poll("!!("+expression+")", &ok,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		var body string
		_ = chromedp.Run(b.ctx, chromedp.Evaluate(`document.querySelector('main').innerText.slice(0, 1500)`, &body))
		b.t.Fatalf("%s: not within %s (%v); the page shows:\n%s", what, timeout, err, body)
	}
}

// click clicks the element selector finds, as a mouse would: once it is in the page and the
// point at its centre (scrolled into view) hits it, not something over it or a zero-sized
// box. The pages draw rows again as events come in: a mouse click by node (chromedp.Click)
// fails when the node it found is replaced before the click lands ("could not find node"),
// and clicking again is no remedy for a toggle, a checkbox or Run now. Here finding the
// element and clicking it are one task in the page, which no redraw can come between.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.waitFor("a click on "+selector, fmt.Sprintf(`((el) => {
		if (!el) return false;
		el.scrollIntoView({block: 'center', inline: 'center'});
		const r = el.getBoundingClientRect();
		if (!r.width || !r.height || !el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2))) return false;
		el.focus({preventScroll: true});
		el.click();
		return true;
	})(document.querySelector(%q))`, selector), 15*time.Second)
}

// eval returns the value of a JavaScript expression.
func eval[T any](b *browser, expression string) T {
	b.t.Helper()
	var v T
	b.run(chromedp.Evaluate(expression, &v))
	return v
}

// open navigates to the dashboard at hash (e.g. "#/jobs").
func (b *browser) open(hash string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + "/" + hash))
}

// goTo follows an in-page link to hash, as clicking a link does: no reload.
func (b *browser) goTo(hash string) {
	b.t.Helper()
	b.run(chromedp.Evaluate(fmt.Sprintf("location.hash = %q", hash), nil))
}

// signIn uses the development token button and waits for the signed-in page.
func (b *browser) signIn() {
	b.t.Helper()
	b.open("")
	b.click("#dev-token")
	b.waitFor("signed in", `!document.getElementById('nav').hidden`, 15*time.Second)
	// Set once; a reload of the page would lose it.
	b.run(chromedp.Evaluate(`window.notReloaded = true`, nil))
}

// signInWith pastes token into the sign-in form and waits for the signed-in page.
func (b *browser) signInWith(token string) {
	b.t.Helper()
	b.open("")
	b.run(chromedp.WaitVisible("#token", chromedp.ByID), chromedp.SetValue("#token", token, chromedp.ByID))
	b.click(".signin button[type=submit]")
	b.waitFor("signed in", `!document.getElementById('nav').hidden`, 15*time.Second)
	b.run(chromedp.Evaluate(`window.notReloaded = true`, nil))
}

// notReloaded fails the test if the page was reloaded since signIn.
func (b *browser) notReloaded() {
	b.t.Helper()
	if !eval[bool](b, `window.notReloaded === true`) {
		b.t.Fatal("the page was reloaded")
	}
}

// dropConnections closes every connection the page has to the app, event streams included,
// as a network failure would.
func (b *browser) dropConnections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.conns {
		_ = c.Close()
		n++
	}
	return n
}

// checkOnlyOwnOrigin fails the test if the page asked any host but the app's.
func (b *browser) checkOnlyOwnOrigin() {
	b.t.Helper()
	own, err := url.Parse(b.base)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		b.t.Fatal("no requests were recorded")
	}
	for _, raw := range b.requests {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "data" && u.Host != own.Host) {
			b.t.Errorf("the page requested %s; only %s is allowed", raw, own.Host)
		}
	}
}

// noSidewaysScroll fails the test if the page is wider than the window.
func (b *browser) noSidewaysScroll(page string) {
	b.t.Helper()
	if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		b.t.Errorf("%s: the page is %d px wide in a %d px window", page, w[0], w[1])
	}
}

// screenshot writes the window to JOBS_SCREENSHOTS/name.png when that variable is set
// (make screenshots).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("JOBS_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	b.run(chromedp.Sleep(300*time.Millisecond), chromedp.CaptureScreenshot(&png))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// rowSelector is JavaScript for the jobs list's row of id.
func rowSelector(id string) string {
	return fmt.Sprintf(`document.querySelector('tr[data-id=%q]')`, id)
}
