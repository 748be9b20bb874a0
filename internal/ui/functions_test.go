package ui_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jobs/internal/apptest"
	"jobs/internal/functions"
	"jobs/internal/ui"
)

// TestDashboardStartFormKeepsWhatWasTyped: a required param's field is sent as a number only
// when it reads back as typed; a code with leading zeros, a decimal with a trailing zero and
// an id too long for a double reach the job as the text typed, not as another number (or,
// for "007", no start at all).
func TestDashboardStartFormKeepsWhatWasTyped(t *testing.T) {
	a := apptest.StartApp(t, testConfig(t), &functions.Definition{
		ID: "ship", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		RequiredParams: []string{"zip", "count", "price", "order", "express"},
		Run: func(_ context.Context, call functions.Call, _ functions.Reporter) (any, error) {
			return call.Params, nil
		},
	})
	b := newBrowser(t, a, 1280, 800)
	b.signIn()
	b.goTo("#/functions")
	b.waitFor("the ship function", `!!document.querySelector('#fn-ship details')`, 10*time.Second)
	typed := map[string]string{"zip": "007", "count": "3", "price": "1.50", "order": "12345678901234567890", "express": "true"}
	b.click(`#fn-ship summary`)
	for name, value := range typed {
		b.run(chromedp.SendKeys(`#start-ship-param\:`+name, value, chromedp.ByQuery))
	}
	b.click(`#fn-ship button[type=submit]`)
	b.waitFor("the started job's detail", `location.hash.startsWith('#/jobs/')`, 10*time.Second)

	job := a.As(ui.DevIdentity.Tenant, "tester").GetJob(strings.TrimPrefix(eval[string](b, `location.hash`), "#/jobs/"))
	var params map[string]json.RawMessage
	if err := json.Unmarshal(job.Params, &params); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"zip": `"007"`, "count": `3`, "price": `"1.50"`, "order": `"12345678901234567890"`, "express": `true`}
	for name, w := range want {
		if got := string(params[name]); got != w {
			t.Errorf("param %s typed as %q reached the job as %s, want %s", name, typed[name], got, w)
		}
	}
}
