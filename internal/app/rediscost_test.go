//go:build rediscost

package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/queue"
)

// TestRedisPerJob measures the Redis commands (and script runs) each job costs on each path,
// from Redis's own INFO commandstats, reset before each phase (docs/BENCHMARKS.md "Redis per
// job"). CONFIG RESETSTAT is global: run it against a Redis of its own,
//
//	redis-server --port 6391 --save '' --appendonly no --daemonize yes
//	TEST_REDIS_ADDR=127.0.0.1:6391 go test -tags rediscost -run TestRedisPerJob -v ./internal/app/
func TestRedisPerJob(t *testing.T) {
	n := 2000
	if s := os.Getenv("REDISCOST_JOBS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	var defaults config.Config
	if err := conf.FillDefault(&defaults); err != nil {
		t.Fatal(err)
	}
	shipped := func(c *config.Config) {
		// The shipped timings, not the tests' short ones: heartbeats and sweeps per job
		// depend on them.
		c.Worker = defaults.Worker
		c.Recovery = defaults.Recovery
		c.Events = defaults.Events
		c.Worker.Concurrency = 64
		c.Worker.BatchSize = 64
	}
	apiConf := apptest.Config(t, shipped, func(c *config.Config) { c.Role = "api" })
	rdb := redis.NewClient(&redis.Options{Addr: apiConf.Redis.Addr})
	defer rdb.Close()
	ctx := context.Background()
	if err := queue.New(rdb, apiConf.Redis.Prefix).SetEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	api := apptest.StartApp(t, apiConf)
	api.StartJob(map[string]any{"functionId": "echo"}) // scripts loaded, connections open

	phase := func(name string, jobs int, run func()) {
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		run()
		took := time.Since(t0)
		info, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		report(t, name, jobs, took, info)
	}

	phase("start, one job per POST, 16 clients", n, func() {
		var wg sync.WaitGroup
		per := n / 16
		for c := 0; c < 16; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					api.StartJob(map[string]any{"functionId": "echo"})
				}
			}()
		}
		wg.Wait()
	})
	phase("batch start, 1,000 jobs per POST", n, func() {
		items := make([]map[string]any, 1000)
		for i := range items {
			items[i] = map[string]any{"functionId": "echo"}
		}
		for i := 0; i < n/1000; i++ {
			res := api.Do(http.MethodPost, "/api/v1/jobs/batch", map[string]any{"jobs": items})
			if res.Status != http.StatusOK {
				t.Fatalf("batch: %d %s", res.Status, res.Body)
			}
		}
	})

	db, err := sql.Open("mysql", apiConf.MySQL.DataSource)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	total := 2*n + 1
	phase(fmt.Sprintf("burn-down of the %d jobs, worker role, shipped timings", total), total, func() {
		apptest.StartApp(t, apptest.Config(t, shipped, func(c *config.Config) {
			c.Role = "worker"
			c.MySQL.DataSource = apiConf.MySQL.DataSource
			c.Redis.Prefix = apiConf.Redis.Prefix
		}))
		for deadline := time.Now().Add(5 * time.Minute); ; {
			var done int
			if err := db.QueryRow("SELECT COUNT(*) FROM jobs WHERE status = 'completed'").Scan(&done); err != nil {
				t.Fatal(err)
			}
			if done == total {
				settle(t, rdb)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d completed", done, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// settle waits until Redis has had no command for 500 ms but the ones a worker makes on its
// own (reads, heartbeats, sweeps): the events of the last outcomes are published after
// MySQL says the jobs completed.
func settle(t *testing.T, rdb *redis.Client) {
	last := ""
	for quiet := 0; quiet < 5; time.Sleep(100 * time.Millisecond) {
		info, err := rdb.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		var evalsha string
		for _, line := range strings.Split(info, "\n") {
			if strings.HasPrefix(line, "cmdstat_evalsha:") || strings.HasPrefix(line, "cmdstat_publish:") {
				c, _, _ := strings.Cut(line, ",")
				evalsha += c
			}
		}
		if evalsha == last {
			quiet++
		} else {
			quiet, last = 0, evalsha
		}
	}
}

func report(t *testing.T, name string, jobs int, took time.Duration, info string) {
	type stat struct {
		cmd         string
		calls, usec int64
	}
	var stats []stat
	var calls, usec int64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "cmdstat_")
		if !ok {
			continue
		}
		cmd, fields, _ := strings.Cut(rest, ":")
		if cmd == "info" || cmd == "config|resetstat" || cmd == "config" {
			continue
		}
		var s = stat{cmd: cmd}
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				s.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		stats = append(stats, s)
		calls += s.calls
		usec += s.usec
	}
	sort.Slice(stats, func(i, j int) bool { return stats[i].calls > stats[j].calls })
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d jobs in %v; per job %.2f commands, %.1f µs\n", name, jobs, took.Round(time.Millisecond), float64(calls)/float64(jobs), float64(usec)/float64(jobs))
	for _, s := range stats {
		fmt.Fprintf(&b, "  %-22s %8d calls %7.3f/job %7.2f µs/job\n", s.cmd, s.calls, float64(s.calls)/float64(jobs), float64(s.usec)/float64(jobs))
	}
	t.Log(b.String())
}
