package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/functions"
	"jobs/internal/testutil"
)

// eventSourcePage opens an EventSource on the job named in its query string, says so at
// /opened once the snapshot is in, and posts every event it saw to /report once the
// EventSource has stopped for good. It never calls close(): after done, the browser
// reconnects by itself, and the server's 204 must be what stops it.
const eventSourcePage = `<!doctype html>
<html><body><script>
const query = new URLSearchParams(location.search);
const job = query.get('job');
const seen = [];
const report = (body) => fetch('/report', {method: 'POST', body: JSON.stringify(body)});
const es = new EventSource('/api/v1/jobs/' + job + '/stream?access_token=' + encodeURIComponent(query.get('token')));
for (const name of ['snapshot', 'status', 'progress', 'log', 'done']) {
  es.addEventListener(name, (e) => {
    if (name === 'snapshot' && seen.length > 0) {
      report({error: 'a second snapshot: the stream was replayed after done', events: seen});
    }
    seen.push({name: name, id: Number(e.lastEventId), data: JSON.parse(e.data)});
    if (name === 'snapshot') fetch('/opened', {method: 'POST'});
  });
}
es.onerror = () => { if (es.readyState === EventSource.CLOSED) report({events: seen}); };
</script></body></html>`

func TestBrowserEventSourceSeesProgressAndDone(t *testing.T) {
	t.Parallel()
	chromium := testutil.Chromium(t)
	// The job reports its progress only once the page's stream is open, however long the
	// browser takes to start.
	opened := make(chan struct{})
	gated := testFunction("gated", 1, time.Minute, func(ctx context.Context, _ functions.Call, report functions.Reporter) (any, error) {
		select {
		case <-opened:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		for i := range int64(2) {
			report.Progress(i+1, 2, "step")
			time.Sleep(100 * time.Millisecond)
		}
		return map[string]any{"steps": 2}, nil
	})
	a := apptest.StartApp(t, apptest.Config(t), gated)
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
	var openOnce sync.Once
	mux.HandleFunc("/opened", func(w http.ResponseWriter, _ *http.Request) { openOnce.Do(func() { close(opened) }) })
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

	var rep report
	select {
	case rep = <-reports:
	case <-ctx.Done():
		t.Fatal("the page never reported: its EventSource did not stop after done")
	}
	seen := make([]string, len(rep.Events))
	progress, snapshots := 0, 0
	for i, ev := range rep.Events {
		seen[i] = fmt.Sprintf("%d:%s", ev.ID, ev.Name)
		switch ev.Name {
		case "progress":
			progress++
		case "snapshot":
			snapshots++
		}
	}
	if rep.Error != "" || len(rep.Events) < 3 {
		t.Fatalf("browser: %q, after events %v", rep.Error, seen)
	}
	for i, ev := range rep.Events {
		if i > 0 && ev.ID <= rep.Events[i-1].ID {
			t.Fatalf("ids not increasing: %v", seen)
		}
	}
	last := rep.Events[len(rep.Events)-1]
	var done struct{ Status string }
	_ = json.Unmarshal(last.Data, &done)
	if snapshots != 1 || progress == 0 || last.Name != "done" || done.Status != "completed" {
		t.Fatalf("browser saw %v (last %s), want one snapshot, progress, then done completed", seen, last.Data)
	}
}
