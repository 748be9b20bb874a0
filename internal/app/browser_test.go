package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"jobs/internal/functions"
	"jobs/internal/testutil"
)

// eventSourcePage opens an EventSource on the job named in its query string and posts
// every event it sees to /report once done arrives.
const eventSourcePage = `<!doctype html>
<html><body><script>
const query = new URLSearchParams(location.search);
const job = query.get('job');
const seen = [];
const report = (body) => fetch('/report', {method: 'POST', body: JSON.stringify(body)});
const es = new EventSource('/api/v1/jobs/' + job + '/stream?access_token=' + encodeURIComponent(query.get('token')));
for (const name of ['snapshot', 'status', 'progress', 'log', 'done']) {
  es.addEventListener(name, (e) => {
    seen.push({name: name, id: Number(e.lastEventId), data: JSON.parse(e.data)});
    if (name === 'done') {
      es.close();
      report({events: seen});
    }
  });
}
es.onerror = () => { if (es.readyState === EventSource.CLOSED) report({error: 'stream failed', events: seen}); };
</script></body></html>`

func TestBrowserEventSourceSeesProgressAndDone(t *testing.T) {
	t.Parallel()
	chromium := testutil.Chromium(t)
	// The job waits for the page's stream before it reports progress and ends, so a browser
	// that starts slowly on a loaded machine still sees every event.
	connected := make(chan struct{})
	gated := &functions.Definition{ID: "gated", Kind: "test", Timeout: time.Minute, MaxAttempts: 1,
		Run: func(ctx context.Context, _ functions.Call, r functions.Reporter) (any, error) {
			select {
			case <-connected:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			r.Progress(1, 2, "half")
			r.Progress(2, 2, "all")
			return map[string]any{"steps": 2}, nil
		}}
	a := testutil.StartApp(t, testutil.Config(t), gated)
	api, err := a.Handler()
	if err != nil {
		t.Fatal(err)
	}
	type report struct {
		Error  string
		Events []struct {
			Name string
			ID   int64
			Data json.RawMessage
		}
	}
	reports := make(chan report, 1)
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, eventSourcePage)
	})
	mux.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) {
		var rep report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			rep.Error = err.Error()
		}
		select {
		case reports <- rep:
		default:
		}
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	job := a.StartJob(map[string]any{"functionId": "gated"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp("", "jobs-chromium")
	if err != nil {
		t.Fatal(err)
	}
	browser := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, site.URL+"/page?job="+job.Id+"&token="+url.QueryEscape(a.BearerToken()))
	// Chromium forks helpers; its own process group lets the test stop all of them.
	browser.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := browser.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-browser.Process.Pid, syscall.SIGKILL)
		_ = browser.Wait()
		os.RemoveAll(profile)
	}()

	// Subscribed: whatever the job does from now on reaches the page.
	if !testutil.Eventually(30*time.Second, func() bool { return a.Svc.Hub.Subscribers() > 0 }) {
		t.Fatal("the page never opened its event stream")
	}
	close(connected)

	var rep report
	select {
	case rep = <-reports:
	case <-ctx.Done():
		t.Fatal("the page never reported")
	}
	if rep.Error != "" || len(rep.Events) < 3 {
		t.Fatalf("browser saw: %+v", rep)
	}
	if rep.Events[0].Name != "snapshot" {
		t.Errorf("first event %q", rep.Events[0].Name)
	}
	progress := 0
	for i, ev := range rep.Events {
		if i > 0 && ev.ID <= rep.Events[i-1].ID {
			t.Fatalf("ids not increasing: %+v", rep.Events)
		}
		if ev.Name == "progress" {
			progress++
		}
	}
	last := rep.Events[len(rep.Events)-1]
	var done struct{ Status string }
	_ = json.Unmarshal(last.Data, &done)
	if progress == 0 || last.Name != "done" || done.Status != "completed" {
		t.Fatalf("browser saw %d progress events, last %s %s", progress, last.Name, last.Data)
	}
}
