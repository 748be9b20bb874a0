package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"jobs/internal/app"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// Not parallel, so no other test's goroutines come and go meanwhile: a process that stops
// (role all, with a job running and a stream open) leaves no goroutine behind.
func TestStopLeavesNoGoroutines(t *testing.T) {
	wantNoGoroutinesLeft(t, "a process outlive its Stop", func() {
		t.Run("process", func(t *testing.T) {
			a := apptest.StartApp(t, apptest.Config(t))
			job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 60}})
			a.WaitStatus(job.Id, "running", 30*time.Second)
			stream := a.OpenStream(job.Id, "")
			t.Cleanup(stream.Close)
			if _, err := stream.Next(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			a.Stop(context.Background())
		})
	})
}

// Not parallel (goroutines are counted): a New that fails after it opened the MySQL pool
// and the Redis client (here on a bad declared schedule) closes them; the pool's opener
// goroutine would otherwise stay, with every connection the pool had made.
func TestFailedNewClosesItsConnections(t *testing.T) {
	c := apptest.Config(t, func(c *config.Config) {
		c.Schedules = []config.ScheduleConf{{Tenant: "t", Id: "x", Cron: "every day", FunctionId: "echo"}}
	})
	wantNoGoroutinesLeft(t, "a failed New outlive it", func() {
		if _, err := app.New(context.Background(), c); err == nil || !strings.Contains(err.Error(), "Schedules[0]") {
			t.Fatalf("New with a bad declared schedule: %v", err)
		}
	})
}

// wantNoGoroutinesLeft runs cycle twice (the first starts go-zero's and the drivers'
// process-wide goroutines) and fails if the second leaves a goroutine behind; what names
// them in the failure, e.g. "a process outlive its Stop".
func wantNoGoroutinesLeft(t *testing.T, what string, cycle func()) {
	t.Helper()
	cycle()
	before := goroutines()
	cycle()
	var leaked []string
	if !testutil.Eventually(10*time.Second, func() bool {
		leaked = leaked[:0]
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		return len(leaked) == 0
	}) {
		t.Fatalf("%d goroutines started by %s:\n%s", len(leaked), what, strings.Join(leaked, "\n\n"))
	}
}

// goroutines are the stacks of the running goroutines by their "goroutine N" header, but
// go-zero's request statistics' flusher (one per rest.Server), which ends on its own after
// some idle minutes.
func goroutines() map[string]string {
	all := map[string]string{}
	for _, g := range testutil.GoroutineStacks() {
		if !strings.Contains(g, "(*PeriodicalExecutor).backgroundFlush") {
			header, _, _ := strings.Cut(g, " [")
			all[header] = g
		}
	}
	return all
}
