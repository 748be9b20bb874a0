package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/app"
	"jobs/internal/auth"
	"jobs/internal/config"
	"jobs/internal/retention"
	"jobs/model"
)

var (
	startRate = flag.Int("start-rate", 100, "-prune: job starts per second while measuring")
	baseline  = flag.Duration("baseline", 30*time.Second, "-prune: how long starts are measured before pruning")
	pruneFor  = flag.Duration("prune-for", 0, "-prune: stop each pruning pass after this long (0: let it delete every job of the fill)")
	paces     = flag.String("paces", "", "-prune: passes to measure one after another, as BatchSize/Pause pairs (500/10ms,100/50ms); default Retention's")
)

// setUpPrune turns the fill into a million finished jobs (completed, failed, cancelled as in
// the list data set), every one finished more than 720 h (the longest default retention) ago,
// in a database of their own.
func setUpPrune() {
	if !isSet("dsn") {
		*dsn = "root:@tcp(127.0.0.1:3306)/jobs_prunebench"
	}
	statuses = slices.DeleteFunc(statuses, func(s struct {
		name   string
		weight int
	}) bool {
		return !model.Status(s.name).Terminal()
	})
	finishedAgo = 31 * 24 * time.Hour
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// benchPrune starts a whole service (API and 16 workers, its own pruner off) and measures the
// latency of POST /api/v1/jobs at -start-rate, first for -baseline, then for as long as one
// pruning pass with the default Retention settings takes to delete every job of the fill.
func benchPrune(ctx context.Context, dsn string) {
	var c config.Config
	check(conf.FillDefault(&c))
	c.Name, c.Host = "prunebench", "127.0.0.1"
	c.Log.Mode, c.Log.Level, c.Log.Stat = "console", "error", false
	c.Middlewares.Log = false
	c.DevServer.Enabled = false
	c.CpuThreshold = 0 // as in etc/jobs.yaml: go-zero's load shedding would count MariaDB's CPU too
	c.MySQL.DataSource, c.MySQL.Migrate = dsn, false
	c.Redis.Prefix = "jobs_prunebench"
	settings := c.Retention
	c.Retention.Completed, c.Retention.Failed, c.Retention.Cancelled = 0, 0, 0 // this benchmark runs the pass itself
	a, err := app.New(ctx, c)
	check(err)
	sqlx.SetSlowThreshold(time.Minute) // the table, not slow statements, is what this prints
	check(a.StartBackground(ctx))
	defer func() {
		a.Stop(ctx)
		forgetKeys(ctx, c)
	}()
	h, err := a.Handler()
	check(err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(l, h)
	token, err := auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: tenant, Actor: "bench"}, time.Hour)
	check(err)
	base := "http://" + l.Addr().String()

	// A -reuse run starts without the jobs an earlier run started.
	db, err := sql.Open("mysql", dsn)
	check(err)
	_, err = db.Exec("DELETE FROM jobs WHERE created_at > now(3) - interval 1 day")
	check(err)
	check(db.Close())
	finished := count(dsn)
	fmt.Printf("\n%d finished jobs; starts at %d/s; Retention.BatchSize %d, Pause %s\n\n", finished, *startRate, settings.BatchSize, settings.Pause)
	fmt.Println("| phase | duration | starts | p50 ms | p99 ms | max ms | jobs deleted |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	stop := make(chan struct{})
	go func() { time.Sleep(*baseline); close(stop) }()
	began := time.Now()
	lat := startLatencies(base, token, stop)
	report("no pruning", time.Since(began), lat, 0)

	passes := []retention.Config{{BatchSize: settings.BatchSize, Pause: settings.Pause}}
	if *paces != "" {
		passes = nil
		for _, p := range strings.Split(*paces, ",") {
			size, pause, _ := strings.Cut(p, "/")
			var pass retention.Config
			var err error
			pass.BatchSize, err = strconv.Atoi(size)
			check(err)
			pass.Pause, err = time.ParseDuration(pause)
			check(err)
			passes = append(passes, pass)
		}
	}
	for _, pass := range passes {
		pass.Completed, pass.Failed, pass.Cancelled = time.Hour, time.Hour, time.Hour
		deleted, took, lat := measurePass(ctx, a, pass, base, token)
		report(fmt.Sprintf("pruning, BatchSize %d, Pause %s", pass.BatchSize, pass.Pause), took, lat, deleted)
		fmt.Fprintf(os.Stderr, "pruned %d jobs in %s: %.0f jobs/s\n", deleted, took.Round(time.Second), float64(deleted)/took.Seconds())
	}
	fmt.Printf("\n%d of the fill left, %d jobs in all (the starts')\n", countFinishedBefore(dsn, time.Hour), count(dsn))
}

// measurePass runs one pruning pass (for at most -prune-for) while starting jobs, and returns
// how many jobs it deleted, how long it ran and the starts' latencies.
func measurePass(ctx context.Context, a *app.App, cfg retention.Config, base, token string) (int, time.Duration, []time.Duration) {
	pruner := retention.NewPruner(cfg, a.Svc.Jobs, model.NewNamedLock(a.Svc.MySQL(), retention.LockName), a.Svc.Events)
	stop := make(chan struct{})
	pruneCtx, cancel := context.WithCancel(ctx)
	if *pruneFor > 0 {
		pruneCtx, cancel = context.WithTimeout(ctx, *pruneFor)
	}
	defer cancel()
	var deleted int
	began := time.Now()
	go func() {
		var err error
		deleted, err = pruner.Prune(pruneCtx)
		if pruneCtx.Err() == nil {
			check(err)
		}
		close(stop)
	}()
	lat := startLatencies(base, token, stop)
	return deleted, time.Since(began), lat
}

// countFill counts the jobs of the fill: every job, or with -prune those finished more than
// a month ago (an earlier run's own starts are not).
func countFill(dsn string) int {
	if *prune {
		return countFinishedBefore(dsn, 30*24*time.Hour)
	}
	return count(dsn)
}

// countFinishedBefore counts the jobs finished more than age ago.
func countFinishedBefore(dsn string, age time.Duration) int {
	db, err := sql.Open("mysql", dsn)
	check(err)
	defer db.Close()
	var n int
	check(db.QueryRow("SELECT COUNT(*) FROM jobs WHERE finished_at < now(3) - interval ? second", int(age.Seconds())).Scan(&n))
	return n
}

// startLatencies starts echo jobs at -start-rate from 8 clients until stop is closed and
// returns each start's latency, sorted.
func startLatencies(base, token string, stop chan struct{}) []time.Duration {
	ticks := make(chan struct{})
	go func() {
		defer close(ticks)
		t := time.NewTicker(time.Second / time.Duration(*startRate))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				select {
				case ticks <- struct{}{}:
				default: // every client busy: a start is skipped, not queued
				}
			}
		}
	}()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range ticks {
				began := time.Now()
				req, err := http.NewRequest(http.MethodPost, base+"/api/v1/jobs", bytes.NewReader([]byte(`{"functionId": "echo"}`)))
				check(err)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := http.DefaultClient.Do(req)
				check(err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					check(fmt.Errorf("start: %d %s", res.StatusCode, body))
				}
				mu.Lock()
				lat = append(lat, time.Since(began))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat
}

func report(phase string, took time.Duration, lat []time.Duration, deleted int) {
	fmt.Printf("| %s | %s | %d | %.1f | %.1f | %.1f | %d |\n", phase, took.Round(time.Second), len(lat),
		ms(pct(lat, 50)), ms(pct(lat, 99)), ms(lat[len(lat)-1]), deleted)
}

// forgetKeys deletes the benchmark's keys from the shared Redis.
func forgetKeys(ctx context.Context, c config.Config) {
	rdb := redis.NewClient(&redis.Options{Addr: c.Redis.Addr, Password: c.Redis.Password, DB: c.Redis.DB})
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, c.Redis.Prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		check(rdb.Del(ctx, iter.Val()).Err())
	}
	check(iter.Err())
}
