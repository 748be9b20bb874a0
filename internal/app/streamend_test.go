package app_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/events"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

// storedDone waits for the job's done event to be stored and returns its number.
func storedDone(t *testing.T, a *apptest.App, jobID string) int64 {
	t.Helper()
	var done int64
	if !testutil.Eventually(5*time.Second, func() bool {
		evs, err := a.Svc.Events.Range(context.Background(), jobID, 0, 1<<62)
		if err == nil && len(evs) > 0 && evs[len(evs)-1].Name == "done" {
			done = evs[len(evs)-1].ID
		}
		return done > 0
	}) {
		t.Fatalf("job %s: no stored done event", jobID)
	}
	return done
}

// checkNoContent fails unless a reconnect with lastEventID is answered 204 No Content.
func checkNoContent(t *testing.T, a *apptest.App, jobID string, lastEventID int64) {
	t.Helper()
	if s, status, body := a.TryStream(jobID, strconv.FormatInt(lastEventID, 10)); s != nil || status != http.StatusNoContent || body != "" {
		if s != nil {
			s.Close()
		}
		t.Fatalf("reconnect with Last-Event-ID %d: %d %q, want 204 No Content", lastEventID, status, body)
	}
}

// A stream ends with the job's done; a client that reconnects after it (an EventSource that
// was not closed) is told there is nothing more: 204 No Content, which stops an EventSource.
func TestStreamReconnectAfterDoneIsNoContent(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	a.WaitStatus(job.Id, "completed", 5*time.Second)
	done := storedDone(t, a, job.Id)

	evs := a.OpenStream(job.Id, "").Collect(t, 5*time.Second)
	if len(evs) != 2 || evs[0].Name != "snapshot" || evs[1].Name != "done" || evs[1].ID != done || evs[0].ID != done-1 {
		t.Fatalf("fresh stream of a finished job: %v, want snapshot %d, done %d", testutil.EventNames(evs), done-1, done)
	}
	checkNoContent(t, a, job.Id, done)
	checkNoContent(t, a, job.Id, done+10)
	// A reconnect from before the done still gets it.
	evs = a.OpenStream(job.Id, strconv.FormatInt(done-1, 10)).Collect(t, 5*time.Second)
	if len(evs) != 2 || evs[1].Name != "done" || evs[1].ID != done {
		t.Fatalf("reconnect before the done: %v", testutil.EventNames(evs))
	}
}

// A job that ended without its done being stored (Redis refused the publish, or the job's
// events expired) gets a done stored by the stream that finds it ended, so a reconnect after
// that done is a 204 too.
func TestStreamStoresTheDoneOfAJobThatEndedWithoutOne(t *testing.T) {
	t.Parallel()
	a, job, s := idleStream(t)
	db := testutil.DB(t, a.Config.MySQL.DataSource)
	testutil.Exec(t, db, "update jobs set status = 'cancelled', finished_at = now(3) where id = ?", job.Id)
	evs := s.Collect(t, 5*time.Second)
	last := evs[len(evs)-1]
	if last.Name != "done" {
		t.Fatalf("events after the unannounced end: %v", testutil.EventNames(evs))
	}
	checkNoContent(t, a, job.Id, last.ID)

	// Its events expire (or Redis loses them): a stream stores a new done, and that ends the
	// reconnects as well.
	testutil.DeleteKeys(t, testutil.Redis(t), a.Config.Redis.Prefix)
	evs = a.OpenStream(job.Id, strconv.FormatInt(last.ID, 10)).Collect(t, 5*time.Second)
	if len(evs) != 2 || evs[0].Name != "snapshot" || evs[1].Name != "done" {
		t.Fatalf("after the events expired: %v", testutil.EventNames(evs))
	}
	checkNoContent(t, a, job.Id, evs[1].ID)
}

// A fresh stream of a running command starts with the snapshot and the command's last log
// lines (Worker.LogTail of them), numbered so that a resume from any of them is exact;
// logTail in the job's detail is current while it runs.
func TestFreshStreamOfARunningCommandStartsWithItsLastLines(t *testing.T) {
	t.Parallel()
	chatty := config.FunctionConf{Id: "chatty", Kind: "command", MaxAttempts: 1, Command: config.CommandConf{
		Argv:      []string{"sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; echo ::progress 1/2 halfway; exec sleep 60"},
		KillGrace: 100 * time.Millisecond,
	}}
	a := apptest.StartApp(t, apptest.Config(t, withFunctions(chatty), func(c *config.Config) { c.Worker.LogTail = 3 }))
	job := a.StartJob(map[string]any{"functionId": "chatty"})
	running := a.WaitJob(job.Id, 10*time.Second, "running with 3 lines in logTail", func(j apptest.Job) bool {
		return j.Status == "running" && len(j.LogTail) == 3 && j.Progress == 1
	})
	for i, l := range running.LogTail {
		if want := "line " + strconv.Itoa(i+3); l.Line != want || l.Stream != "stdout" {
			t.Fatalf("logTail while running: %+v, want lines 3 to 5", running.LogTail)
		}
	}
	// Wait for the events, published a little after the lines reach MySQL.
	if !testutil.Eventually(5*time.Second, func() bool {
		evs, err := a.Svc.Events.Range(context.Background(), job.Id, 0, 1<<62)
		return err == nil && len(evs) > 0 && evs[len(evs)-1].Name == "progress"
	}) {
		t.Fatal("the command's events were never stored")
	}

	s := a.OpenStream(job.Id, "")
	var evs []testutil.Event
	for range 4 {
		ev, err := s.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", testutil.EventNames(evs), err)
		}
		evs = append(evs, ev)
	}
	s.Close()
	checkIncreasing(t, evs)
	if evs[0].Name != "snapshot" || decode[apptest.Job](t, evs[0].Data).Progress != 1 || evs[0].ID != evs[1].ID-1 {
		t.Fatalf("fresh stream starts %v, want the snapshot numbered just before the first line", testutil.EventNames(evs))
	}
	for i, ev := range evs[1:] {
		if line := decode[apptest.LogLine](t, ev.Data); ev.Name != "log" || line.Line != "line "+strconv.Itoa(i+3) {
			t.Fatalf("event %d: %s %s, want log line %d", i+1, ev.Name, ev.Data, i+3)
		}
	}

	// A resume from a replayed line gets every kept event after it, once.
	from := evs[2].ID
	resumed := a.OpenStream(job.Id, strconv.FormatInt(from, 10))
	want, err := a.Svc.Events.Range(context.Background(), job.Id, from, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := resumed.Next(5 * time.Second); err != nil || ev.Name != "snapshot" || ev.ID != from {
		t.Fatalf("resume: %+v %v, want a snapshot numbered %d", ev, err, from)
	}
	for _, w := range want {
		if ev, err := resumed.Next(5 * time.Second); err != nil || ev.ID != w.ID || ev.Name != w.Name {
			t.Fatalf("resume: %+v %v, want %d:%s", ev, err, w.ID, w.Name)
		}
	}
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil)
	rest := resumed.Collect(t, 5*time.Second)
	if last := rest[len(rest)-1]; last.Name != "done" {
		t.Fatalf("after the cancel: %v", testutil.EventNames(rest))
	}
}

// A Redis that lost a job's events (restarted empty, flushed, failed over to a replica behind
// it) numbers the job's next events from 1 again. A stream that had sent more than that took
// them for events it had sent and dropped them until the numbers caught up; it now sends a
// reset (lost) and carries on in the new numbering, and a client's reconnect past what Redis
// has (its stream ended meanwhile) starts afresh.
func TestStreamOfAJobWhoseEventsRedisLostStartsAgain(t *testing.T) {
	t.Parallel()
	a, job, s := idleStream(t)
	ctx := context.Background()
	progress := func(msg string) {
		t.Helper()
		if err := a.Svc.Events.Publish(ctx, events.Pending{JobID: job.Id, Name: events.Progress,
			Data: events.ProgressData{Progress: 1, Total: 2, Message: msg}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		progress("before")
		if ev, err := s.Next(5 * time.Second); err != nil || ev.ID != int64(i+1) {
			t.Fatalf("event %d: %+v %v", i+1, ev, err)
		}
	}
	keys := rediskeys.New(a.Config.Redis.Prefix)
	if err := testutil.Redis(t).Del(ctx, keys.JobEventLog(job.Id), keys.JobEventSeq(job.Id), keys.JobDone(job.Id)).Err(); err != nil {
		t.Fatal(err)
	}
	progress("after the loss") // numbered 1 again
	if ev, err := s.Next(5 * time.Second); err != nil || ev.Name != "reset" || ev.ID != 0 || !strings.Contains(string(ev.Data), "lost") {
		t.Fatalf("after Redis lost the job's events: %+v %v, want a reset (lost) numbered 0", ev, err)
	}
	if ev, err := s.Next(5 * time.Second); err != nil || ev.ID != 1 || !strings.Contains(string(ev.Data), "after the loss") {
		t.Fatalf("after the reset: %+v %v, want progress 1", ev, err)
	}
	again := a.OpenStream(job.Id, "3")
	defer again.Close()
	if ev, err := again.Next(5 * time.Second); err != nil || ev.Name != "snapshot" || ev.ID != 1 {
		t.Fatalf("reconnect: %+v %v, want a snapshot numbered 1", ev, err)
	}
	progress("later")
	if ev, err := again.Next(5 * time.Second); err != nil || ev.ID != 2 || !strings.Contains(string(ev.Data), "later") {
		t.Fatalf("after the reconnect: %+v %v, want progress 2", ev, err)
	}
}
