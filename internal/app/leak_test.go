package app_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobs/internal/app"
	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/rediskeys"
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

// Not parallel (goroutines are counted): a start that fails partway leaves nothing running
// or open, whether StartBackground or Run failed, and a Stop without a start does nothing.
func TestFailedStartLeavesNothingRunning(t *testing.T) {
	ctx := context.Background()
	// The pool's consumer group cannot be made on a work stream that is not a stream: the
	// pool fails to start after the event hubs have started.
	poisoned := func(t *testing.T) config.Config {
		c := apptest.Config(t, func(c *config.Config) { c.Port = testutil.FreePort(t) })
		if err := testutil.Redis(t).Set(ctx, rediskeys.New(c.Redis.Prefix).Stream(), "not a stream", 0).Err(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	newApp := func(t *testing.T, c config.Config) *app.App {
		a, err := app.New(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	wantErr := func(t *testing.T, what string, err error, want string) {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %v, want %q", what, err, want)
		}
	}
	t.Run("StartBackground", func(t *testing.T) {
		c := poisoned(t)
		wantNoGoroutinesLeft(t, "a failed StartBackground outlive it", func() {
			wantErr(t, "StartBackground", newApp(t, c).StartBackground(ctx), "WRONGTYPE")
		})
	})
	t.Run("Run, the pool failing", func(t *testing.T) {
		c := poisoned(t)
		// A second Run on the same port fails the same way only if the first let the port go.
		wantNoGoroutinesLeft(t, "a failed Run outlive it", func() {
			wantErr(t, "Run", newApp(t, c).Run(ctx), "WRONGTYPE")
		})
	})
	t.Run("Run, the port taken", func(t *testing.T) {
		c := apptest.Config(t, func(c *config.Config) { c.Port = testutil.FreePort(t) })
		l, err := net.Listen("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		wantNoGoroutinesLeft(t, "a failed Run outlive it", func() {
			wantErr(t, "Run", newApp(t, c).Run(ctx), "address already in use")
		})
	})
	t.Run("Stop without a start", func(t *testing.T) {
		c := apptest.Config(t)
		wantNoGoroutinesLeft(t, "an app stopped unstarted outlive its Stop", func() {
			newApp(t, c).Stop(ctx)
		})
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
