package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

// checkIncreasing fails unless event ids strictly increase.
func checkIncreasing(t *testing.T, evs []testutil.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("event ids do not increase at %d: %+v", i, evs)
		}
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func TestStreamDeliversEveryEventUntilDone(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 2}})

	s := a.OpenStream(job.Id, "")
	if cc := s.Resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q", cc)
	}
	// The stream is the connection's last response: it ends when the connection does.
	if !s.Resp.Close {
		t.Errorf("an HTTP/1.1 stream without Connection: close (headers %v)", s.Resp.Header)
	}
	evs := s.Collect(t, 5*time.Second)
	checkIncreasing(t, evs)
	if evs[0].Name != "snapshot" || decode[apptest.Job](t, evs[0].Data).Id != job.Id {
		t.Fatalf("first event: %+v", evs[0])
	}
	var progress []int64
	var statuses []string
	for _, ev := range evs[1:] {
		switch ev.Name {
		case "progress":
			p := decode[struct{ Progress, Total int64 }](t, ev.Data)
			if p.Total != 2 {
				t.Errorf("progress total %d", p.Total)
			}
			progress = append(progress, p.Progress)
		case "status":
			statuses = append(statuses, decode[struct{ Status string }](t, ev.Data).Status)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] != 2 {
		t.Errorf("progress events %v, want them to reach 2", progress)
	}
	if len(statuses) == 0 || statuses[len(statuses)-1] != "completed" {
		t.Errorf("status events %v, want to end with completed", statuses)
	}
	done := evs[len(evs)-1]
	doneJob := decode[apptest.Job](t, done.Data)
	if doneJob.Status != "completed" || string(doneJob.Result) != `{"slept":2}` {
		t.Errorf("done event: %s", done.Data)
	}
}

// Over TLS with HTTP/1.1 the connection is taken over as over plain HTTP; over HTTP/2 it
// cannot be, and the stream is written through net/http. Either way the stream gets every
// event, and a disconnect frees it.
func TestStreamOverTLS(t *testing.T) {
	t.Parallel()
	app := apptest.StartApp(t, apptest.Config(t))
	for _, http2 := range []bool{false, true} {
		a := app.OverTLS(http2)
		job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
		s := a.OpenStream(job.Id, "")
		if wantMajor := map[bool]int{false: 1, true: 2}[http2]; s.Resp.ProtoMajor != wantMajor || s.Resp.Close == http2 {
			t.Fatalf("stream over %s (connection close %v), want HTTP/%d", s.Resp.Proto, s.Resp.Close, wantMajor)
		}
		evs := s.Collect(t, 5*time.Second)
		checkIncreasing(t, evs)
		if done := decode[apptest.Job](t, evs[len(evs)-1].Data); evs[len(evs)-1].Name != "done" || done.Status != "completed" {
			t.Fatalf("HTTP/2 %v: last event: %+v", http2, evs[len(evs)-1])
		}

		pending := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 60}})
		open := a.OpenStream(pending.Id, "")
		if ev, err := open.Next(5 * time.Second); err != nil || ev.Name != "snapshot" {
			t.Fatalf("HTTP/2 %v: snapshot: %+v %v", http2, ev, err)
		}
		open.Close()
		if !testutil.Eventually(5*time.Second, func() bool { return a.Streams.Open() == 0 }) {
			t.Fatalf("HTTP/2 %v: %d streams open after the client left", http2, a.Streams.Open())
		}
	}
}

func TestStreamResumesWithLastEventIDWithoutGapsOrDuplicates(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 4}})

	first := a.OpenStream(job.Id, "")
	var seen []testutil.Event
	for len(seen) < 3 { // snapshot and a couple of live events
		ev, err := first.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
	}
	first.Close()
	lastID := seen[len(seen)-1].ID
	// Events happen while disconnected.
	if !testutil.Eventually(10*time.Second, func() bool {
		last, err := a.Svc.Events.LastID(context.Background(), job.Id)
		return err == nil && last >= lastID+2
	}) {
		t.Fatal("no events while the stream was disconnected")
	}

	rest := a.OpenStream(job.Id, strconv.FormatInt(lastID, 10)).Collect(t, 5*time.Second)
	if rest[0].Name != "snapshot" || rest[0].ID != lastID {
		t.Fatalf("reconnect starts with %+v, want a snapshot numbered %d", rest[0], lastID)
	}
	checkIncreasing(t, rest)
	// Every stored event after lastID arrives exactly once, in order: compare with the log.
	want, err := a.Svc.Events.Range(context.Background(), job.Id, lastID, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	got := rest[1:]
	if len(got) != len(want) {
		t.Fatalf("after resume got %d events, the log has %d after id %d", len(got), len(want), lastID)
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Name != want[i].Name {
			t.Fatalf("event %d: got %d:%s, want %d:%s", i, got[i].ID, got[i].Name, want[i].ID, want[i].Name)
		}
		if i > 0 && got[i].ID != got[i-1].ID+1 {
			t.Fatalf("gap between %d and %d", got[i-1].ID, got[i].ID)
		}
	}
	if got[0].ID != lastID+1 {
		t.Fatalf("first replayed id %d, want %d", got[0].ID, lastID+1)
	}
}

func TestStreamResumeAfterTheJobEndedReplaysTheMissedEvents(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
	s := a.OpenStream(job.Id, "")
	snapshot, err := s.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	a.WaitStatus(job.Id, "completed", 5*time.Second)
	// Events are published just after the outcome commits; wait for the stored done, so the
	// replay below has the whole log to match (until then a stream ends with a done of its own).
	if !testutil.Eventually(5*time.Second, func() bool {
		evs, err := a.Svc.Events.Range(context.Background(), job.Id, 0, 1<<62)
		return err == nil && len(evs) > 0 && evs[len(evs)-1].Name == "done"
	}) {
		t.Fatal("the done event was never stored")
	}

	evs := a.OpenStream(job.Id, strconv.FormatInt(snapshot.ID, 10)).Collect(t, 2*time.Second)
	checkIncreasing(t, evs)
	want, err := a.Svc.Events.Range(context.Background(), job.Id, snapshot.ID, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(want)+1 || want[len(want)-1].Name != "done" {
		t.Fatalf("got %d events after the snapshot, the log has %d: %+v", len(evs)-1, len(want), evs)
	}
	for i, w := range want {
		if evs[i+1].ID != w.ID || evs[i+1].Name != w.Name {
			t.Fatalf("event %d: got %d:%s, want %d:%s", i, evs[i+1].ID, evs[i+1].Name, w.ID, w.Name)
		}
	}
}

func TestStreamOfTerminalJobIsSnapshotThenDone(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "echo", "params": map[string]any{"k": "v"}})
	a.WaitStatus(job.Id, "completed", 5*time.Second)

	start := time.Now()
	evs := a.OpenStream(job.Id, "").Collect(t, 2*time.Second)
	if len(evs) != 2 || evs[0].Name != "snapshot" || evs[1].Name != "done" {
		t.Fatalf("events %+v", evs)
	}
	checkIncreasing(t, evs)
	if string(decode[apptest.Job](t, evs[1].Data).Result) != `{"k":"v"}` {
		t.Errorf("done without result: %s", evs[1].Data)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("terminal stream took %s", d)
	}
}

func TestStreamErrorsAreJSONBeforeStreaming(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	unknown := "01900000-0000-7000-8000-000000000000"
	s, status, body := a.TryStream(unknown, "")
	if s != nil || status != http.StatusNotFound || body != `{"code":404,"message":"job `+unknown+` not found"}` {
		t.Fatalf("unknown job: %d %s", status, body)
	}
	job := a.StartJob(map[string]any{"functionId": "echo"})
	s, status, body = a.TryStream(job.Id, "abc")
	if s != nil || status != http.StatusBadRequest {
		t.Fatalf("bad Last-Event-ID: %d %s", status, body)
	}
}

// idleStream starts an app whose jobs stay pending and whose hub checks every 200 ms, and
// opens a stream on a new job, read up to its snapshot.
func idleStream(t *testing.T) (*apptest.App, apptest.Job, *testutil.Stream) {
	t.Helper()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) { c.Events.CheckInterval = 200 * time.Millisecond }))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	s := a.OpenStream(job.Id, "")
	if ev, err := s.Next(5 * time.Second); err != nil || ev.Name != "snapshot" {
		t.Fatalf("snapshot: %+v %v", ev, err)
	}
	return a, job, s
}

// An event stored in Redis whose announcement never arrived (pub/sub drops what is
// published while the subscription reconnects) reaches the stream at the hub's next check.
func TestStreamGetsAnEventWhoseAnnouncementWasLost(t *testing.T) {
	t.Parallel()
	a, job, s := idleStream(t)
	c := a.Config
	// What the publish script does, without the PUBLISH.
	ctx, rdb := context.Background(), testutil.Redis(t)
	id, err := rdb.Incr(ctx, rediskeys.New(c.Redis.Prefix).JobEventSeq(job.Id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	entry := strconv.FormatInt(id, 10) + ` progress {"progress":1,"total":2,"message":"unannounced"}`
	if err := rdb.RPush(ctx, rediskeys.New(c.Redis.Prefix).JobEventLog(job.Id), entry).Err(); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Next(3 * time.Second)
	if err != nil || ev.Name != "progress" || ev.ID != id || !strings.Contains(string(ev.Data), "unannounced") {
		t.Fatalf("after a lost announcement: %+v %v, want progress %d", ev, err, id)
	}
}

// A job that ended without its done being announced (Redis refused the publish) still ends
// its streams, at the hub's next check.
func TestStreamEndsWhenTheJobEndedUnannounced(t *testing.T) {
	t.Parallel()
	a, job, s := idleStream(t)
	db := testutil.DB(t, a.Config.MySQL.DataSource)
	testutil.Exec(t, db, "update jobs set status = 'cancelled', finished_at = now(3) where id = ?", job.Id)
	evs := s.Collect(t, 3*time.Second)
	last := evs[len(evs)-1]
	if last.Name != "done" || decode[apptest.Job](t, last.Data).Status != "cancelled" {
		t.Fatalf("events after the unannounced end: %+v", evs)
	}
}

func TestStreamsBeyondMaxStreamsAreRefused(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) { c.Events.MaxStreams = 2 }))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	first := a.OpenStream(job.Id, "")
	a.OpenStream(job.Id, "")
	s, status, body := a.TryStream(job.Id, "")
	if s != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "Events.MaxStreams") {
		t.Fatalf("third stream: %d %s", status, body)
	}
	// A closed stream makes room.
	first.Close()
	if !testutil.Eventually(5*time.Second, func() bool { return a.Streams.Open() == 1 }) {
		t.Fatalf("%d streams open", a.Streams.Open())
	}
	a.OpenStream(job.Id, "")
}

func TestStreamFromSeparateAPIProcessSeesWorkerProcessEvents(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers) // this process: API only
	api := apptest.StartApp(t, c)
	wc := c
	wc.Worker.Concurrency = 2
	startProcess(t, wc, "worker")

	job := api.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
	evs := api.OpenStream(job.Id, "").Collect(t, 15*time.Second)
	var progress int
	for _, ev := range evs {
		if ev.Name == "progress" {
			progress++
		}
	}
	if progress == 0 || decode[apptest.Job](t, evs[len(evs)-1].Data).Status != "completed" {
		t.Fatalf("events from the worker process: %+v", evs)
	}
}

func TestStreamCancelledJobEndsWithDone(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 30}})
	a.WaitStatus(job.Id, "running", 5*time.Second)
	s := a.OpenStream(job.Id, "")
	if ev, err := s.Next(5 * time.Second); err != nil || ev.Name != "snapshot" {
		t.Fatalf("snapshot: %+v %v", ev, err)
	}
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil)
	evs := s.Collect(t, 3*time.Second)
	if done := decode[apptest.Job](t, evs[len(evs)-1].Data); done.Status != "cancelled" {
		t.Fatalf("done: %+v", done)
	}
}

// Not parallel: it counts the process's goroutines.
func TestStreamDisconnectAndShutdownFreeEverything(t *testing.T) {
	c := apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 })
	a := apptest.StartApp(t, c)
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 60}})

	baseline := runtime.NumGoroutine()
	const n = 50
	streams := make([]*testutil.Stream, n)
	for i := range streams {
		streams[i] = a.OpenStream(job.Id, "")
		if ev, err := streams[i].Next(5 * time.Second); err != nil || ev.Name != "snapshot" {
			t.Fatalf("stream %d: %+v %v", i, ev, err)
		}
	}
	if got := a.Svc.Hub.Subscribers(); got != n {
		t.Fatalf("%d subscribers, want %d", got, n)
	}
	for _, s := range streams[:n-1] {
		s.Close()
	}
	if !testutil.Eventually(5*time.Second, func() bool {
		return a.Svc.Hub.Subscribers() == 1 && a.Streams.Open() == 1 && runtime.NumGoroutine() <= baseline+10
	}) {
		t.Fatalf("after disconnects: %d subscribers, %d streams, %d goroutines (baseline %d)",
			a.Svc.Hub.Subscribers(), a.Streams.Open(), runtime.NumGoroutine(), baseline)
	}

	// Shutdown ends the last open stream promptly instead of waiting for the job.
	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		a.Stop(context.Background())
		close(stopped)
	}()
	if _, err := streams[n-1].Next(3 * time.Second); err == nil || err.Error() != "stream ended" {
		t.Fatalf("open stream after shutdown: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown with an open stream took %s", d)
	}
}

func TestStreamOutlivesTheRequestTimeoutOnARealServer(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) {
		c.Timeout = 1000 // ms: every route but the stream times out after 1 s
		c.Events.HeaderTimeout = time.Second
	})
	c.Worker.Concurrency = 2
	p := startProcess(t, c, "all")
	client := apptest.Client(t, p.URL, c)

	job := client.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3}})
	start := time.Now()
	evs := client.OpenStream(job.Id, "").Collect(t, 5*time.Second)
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("stream ended after %s; the job sleeps 3s", d)
	}
	if decode[apptest.Job](t, evs[len(evs)-1].Data).Status != "completed" {
		t.Fatalf("last event: %+v", evs[len(evs)-1])
	}

	addr := strings.TrimPrefix(p.URL, "http://")
	// A start whose body never finishes arriving is answered once the request timeout
	// (1 s) has passed: 408 from the body reader, or 503 from go-zero's timeout handler.
	slowBody, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowBody.Close()
	if _, err := slowBody.Write([]byte("POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
		"Content-Length: 100\r\n\r\n{\"functionId\"")); err != nil {
		t.Fatal(err)
	}
	if status, d := readStatus(t, slowBody); !(strings.Contains(status, " 408 ") || strings.Contains(status, " 503 ")) || d > 3*time.Second {
		t.Errorf("slow body: %q after %s, want a 408 or 503 after about 1s", status, d)
	}

	// A client that never finishes its headers is cut off after Events.HeaderTimeout.
	slowHeader, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowHeader.Close()
	if _, err := slowHeader.Write([]byte("GET /api/v1/functions HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if status, d := readStatus(t, slowHeader); d > 3*time.Second || (status != "" && !strings.Contains(status, " 408 ")) {
		t.Errorf("slow header: %q after %s, want the connection cut after about 1s", status, d)
	}
}

// readStatus reads the status line the server sends on conn ("" if it just closes) and
// how long it took.
func readStatus(t *testing.T, conn net.Conn) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && line == "" {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", 5 * time.Second
		}
	}
	return strings.TrimSpace(line), time.Since(start)
}

func TestStreamPingsWhileIdle(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) {
		c.Worker.Concurrency = 0 // the job stays pending: nothing but pings on the stream
		c.Events.PingInterval = 100 * time.Millisecond
	}))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	s := a.OpenStream(job.Id, "")
	if ev, err := s.Next(5 * time.Second); err != nil || ev.Name != "snapshot" {
		t.Fatalf("snapshot: %+v %v", ev, err)
	}
	if ev, err := s.Next(time.Second); err == nil || err.Error() != "no event within 1s" {
		t.Fatalf("an idle stream sent %+v (%v)", ev, err)
	}
	if s.Pings < 5 {
		t.Fatalf("%d pings in a second at a 100ms interval", s.Pings)
	}
}

// A fresh stream's snapshot stands for every event up to the one after it: it shows the
// progress already reported, even before the worker has written it to MySQL (every
// Worker.ProgressFlush). It showed 0/0 and no message until the next report, which a job
// that reports rarely might make minutes later.
func TestAFreshStreamsSnapshotShowsTheProgressAlreadyReported(t *testing.T) {
	t.Parallel()
	slow := testFunction("slow", 1, time.Minute, func(ctx context.Context, _ functions.Call, report functions.Reporter) (any, error) {
		report.Progress(1, 10, "warming up")
		<-ctx.Done()
		return nil, ctx.Err()
	})
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.ProgressFlush = time.Hour }), slow)
	job := a.StartJob(map[string]any{"functionId": "slow"})
	first := a.OpenStream(job.Id, "")
	var reported testutil.Event
	for reported.Name != "progress" {
		var err error
		if reported, err = first.Next(10 * time.Second); err != nil {
			t.Fatalf("waiting for the progress event: %v", err)
		}
	}

	// A fresh stream, and a resume from the report (which the snapshot replaces).
	for _, lastEventID := range []string{"", strconv.FormatInt(reported.ID, 10)} {
		ev, err := a.OpenStream(job.Id, lastEventID).Next(5 * time.Second)
		if err != nil || ev.Name != "snapshot" {
			t.Fatalf("Last-Event-ID %q: first event: %+v %v", lastEventID, ev, err)
		}
		if got := decode[apptest.Job](t, ev.Data); got.Progress != 1 || got.Total != 10 || got.Message != "warming up" {
			t.Fatalf("Last-Event-ID %q: snapshot shows progress %d/%d %q, want 1/10 \"warming up\": %s",
				lastEventID, got.Progress, got.Total, got.Message, ev.Data)
		}
	}
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil)
}
