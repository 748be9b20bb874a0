package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/testutil"
)

// Not parallel, so no other test's goroutines come and go meanwhile: a process that stops
// (role all, with a job running and a stream open) leaves no goroutine behind.
func TestStopLeavesNoGoroutines(t *testing.T) {
	cycle := func() {
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
	}
	// The first cycle starts go-zero's and the drivers' process-wide goroutines.
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
		t.Fatalf("%d goroutines started by a process outlive its Stop:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
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
