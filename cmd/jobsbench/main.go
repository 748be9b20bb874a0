// Command jobsbench measures the jobs service on the local MariaDB and Redis: start
// throughput over HTTP, burn-down throughput of a queued backlog, and enqueue→start
// latency at a steady rate. It runs the real app (app.New + StartBackground, HTTP on a
// loopback listener) in this process, on a database and Redis prefix of its own that it
// removes at the end, and prints the results as Markdown. See docs/BENCHMARKS.md.
//
//	go run ./cmd/jobsbench                 # everything (what make bench runs)
//	go run ./cmd/jobsbench -only latency   # one part
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/stat"
)

type options struct {
	only            string
	duration        time.Duration
	clients         int
	jobs            int
	concurrency     int
	batch           int
	rate            int
	latencyDuration time.Duration
	timeout         time.Duration
	firstStart      bool
	countPoll       bool
	quietWait       time.Duration
	stages          bool
	mysqlDSN        string
	redisAddr       string
	cpuProfile      string
	cpuThreshold    int64
	streams         int
	perBatch        int
	batchClients    int
}

var parts = []struct {
	name string
	run  func(context.Context, *env) (row, error)
}{
	{"start", benchStart},
	{"batch", benchBatchStart},
	{"burndown", benchBurndown},
	{"latency", benchLatency},
	{"sse-one", benchStreamsOneJob},
	{"sse-many", benchStreamsManyJobs},
}

func main() {
	os.Exit(run())
}

func run() int {
	o := &options{}
	flag.StringVar(&o.only, "only", "", "run only these parts, comma-separated: start, batch, burndown, latency, sse-one, sse-many (default all)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "start: how long the clients post")
	flag.IntVar(&o.clients, "clients", 32, "start and burndown submission: concurrent HTTP clients")
	flag.IntVar(&o.perBatch, "per-batch", 1000, "batch: jobs per POST /api/v1/jobs/batch")
	flag.IntVar(&o.batchClients, "batch-clients", 4, "batch: concurrent HTTP clients")
	flag.IntVar(&o.jobs, "jobs", 100000, "burndown: jobs queued before the worker starts")
	flag.IntVar(&o.concurrency, "concurrency", 64, "burndown and latency: Worker.Concurrency")
	flag.IntVar(&o.batch, "batch", 64, "burndown and latency: Worker.BatchSize")
	flag.IntVar(&o.rate, "rate", 200, "latency: jobs started per second")
	flag.IntVar(&o.streams, "streams", 2000, "sse-one, sse-many: concurrent event streams")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 10*time.Second, "latency: how long jobs are started at -rate")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "burndown: give up after this long")
	flag.BoolVar(&o.firstStart, "first-start", false, "burndown: leave out the Redis epoch marker, as on the very first worker start, so the sweep re-enqueues the backlog")
	flag.BoolVar(&o.countPoll, "count-poll", false, "burndown: detect the end with SELECT COUNT(*) ... status='completed' every 100 ms (about 20 ms of MariaDB CPU per poll at 100k rows) instead of an index probe")
	flag.DurationVar(&o.quietWait, "quiet-wait", 2*time.Minute, "before each part, wait up to this long for other processes, MariaDB and Redis to idle (0: don't wait)")
	flag.BoolVar(&o.stages, "stages", true, "burndown: sample the goroutines every 50 ms to show what the fetch loop and the completer spend their time on")
	flag.StringVar(&o.mysqlDSN, "mysql", envOr("TEST_MYSQL_DSN", "root:@tcp(127.0.0.1:3306)/"), "MariaDB server DSN (the database name is ignored)")
	flag.StringVar(&o.redisAddr, "redis", envOr("TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	flag.Int64Var(&o.cpuThreshold, "cpu-threshold", 900, "RestConf.CpuThreshold of the apps: go-zero sheds requests above this CPU load (per mille); 0 turns shedding off")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each part's measured phase to <this>-<part>.pprof (and, for burndown, a goroutine dump at half-way)")
	flag.Parse()

	selected := map[string]bool{}
	for _, p := range strings.Split(o.only, ",") {
		if p = strings.TrimSpace(p); p != "" {
			selected[p] = true
		}
	}
	for p := range selected {
		known := false
		for _, q := range parts {
			known = known || q.name == p
		}
		if !known {
			fmt.Fprintf(os.Stderr, "-only: unknown part %q (want start, batch, burndown, latency, sse-one, sse-many)\n", p)
			return 2
		}
	}
	if o.clients < 1 || o.jobs < 1 || o.rate < 1 || o.concurrency < 1 || o.batch < 1 || o.streams < 1 || o.perBatch < 2 || o.batchClients < 1 {
		fmt.Fprintln(os.Stderr, "-clients, -jobs, -rate, -concurrency, -batch, -streams and -batch-clients must be positive, -per-batch at least 2")
		return 2
	}

	logx.DisableStat()
	logx.SetLevel(logx.ErrorLevel)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	e, err := newEnv(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jobsbench:", err)
		return 1
	}
	defer e.close()
	logf("database %s, Redis prefix %s", e.dbName, e.prefix)

	var rows []row
	failed := false
	for _, p := range parts {
		if len(selected) > 0 && !selected[p.name] {
			continue
		}
		// Empty the previous part's table first: InnoDB purging its history would keep
		// MariaDB busy for minutes.
		if _, err := e.reset(ctx, p.name); err != nil {
			fmt.Fprintf(os.Stderr, "jobsbench: %s: %v\n", p.name, err)
			failed = true
			continue
		}
		quiet := true
		if o.quietWait > 0 {
			quiet = waitQuiet(ctx, o.quietWait)
		}
		settle(ctx)
		r, err := p.run(ctx, e)
		if err != nil {
			fmt.Fprintf(os.Stderr, "jobsbench: %s: %v\n", p.name, err)
			failed = true
			if errors.Is(err, context.Canceled) {
				break
			}
			continue
		}
		if !quiet {
			r.notes = append(r.notes, fmt.Sprintf("the machine was not quiet when this part began (waited %s for other processes, MariaDB and Redis to idle)", o.quietWait))
		}
		logf("%s: %s", p.name, r.result)
		rows = append(rows, r)
	}

	if n := quietLog.dropped.Load(); n > 0 {
		logf("left out %d go-zero log lines about shed or broken-circuit requests", n)
	}
	command := "go run ./cmd/jobsbench"
	if len(os.Args) > 1 {
		command += " " + strings.Join(os.Args[1:], " ")
	}
	c, _ := e.config("all", e.prefix)
	w := c.Worker
	cfg := []string{
		"one process runs the app(s) and the load generator; HTTP is served by httptest.NewServer(app.Handler()) on 127.0.0.1, requests carry a bearer token minted with the config's secret",
		fmt.Sprintf("config built like internal/apptest.Config but with default timings: conf.FillDefault, Log level error; go-zero middlewares at their defaults (Timeout %d ms, MaxConns %d, breaker and shedding on), CpuThreshold %d",
			c.Timeout, c.MaxConns, c.CpuThreshold),
		fmt.Sprintf("MySQL.MaxOpenConns %d per app; Redis client defaults", c.MySQL.MaxOpenConns),
		fmt.Sprintf("worker (burndown, latency): Concurrency %d, BatchSize %d; Lease %s, Heartbeat %s, ProgressFlush %s, ClaimIdle %s (defaults)",
			w.Concurrency, w.BatchSize, w.Lease, w.Heartbeat, w.ProgressFlush, w.ClaimIdle),
		fmt.Sprintf("sweeper and callbacks (worker role, defaults): Recovery.Interval %s, Recovery.DueInterval %s, Callbacks.Interval %s; Events.RetainDone %s",
			c.Recovery.Interval, c.Recovery.DueInterval, c.Callbacks.Interval, c.Events.RetainDone),
		"HTTP 503s from go-zero's shedder or breaker (empty body) are retried by the client after a backoff of 5 ms doubling to 200 ms, and counted; they are not counted as jobs",
		"before each part: the previous part's rows are truncated, the benchmark waits (up to -quiet-wait) for other processes, MariaDB and Redis to idle, then (up to 20 s) for go-zero's CPU load average to fall below 30%, so one part's load does not trip the next part's fresh shedder",
	}
	printReport(os.Stdout, command, machine(context.Background(), e), cfg, rows)
	if failed {
		return 1
	}
	return 0
}

// settle waits until go-zero's moving average of CPU load (which its shedder reads) is
// below 30%, or 20 s have passed.
func settle(ctx context.Context) {
	deadline := time.Now().Add(20 * time.Second)
	for stat.CpuUsage() >= 300 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
	}
	logf("CPU load average %.1f%%", float64(stat.CpuUsage())/10)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s jobsbench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// startProfile starts a CPU profile of part if -cpuprofile is set; the result stops it.
func startProfile(o *options, part string) func() {
	if o.cpuProfile == "" {
		return func() {}
	}
	path := o.cpuProfile + "-" + part + ".pprof"
	f, err := os.Create(path)
	if err != nil {
		logf("cpuprofile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logf("cpuprofile: %v", err)
		f.Close()
		return func() {}
	}
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		pprof.StopCPUProfile()
		f.Close()
		logf("CPU profile of %s written to %s", part, path)
	}
}

// dumpGoroutines writes the goroutines, grouped by stack, to <-cpuprofile>-<part>-goroutines.txt:
// where the pool's goroutines wait in mid-run.
func dumpGoroutines(o *options, part string) {
	if o.cpuProfile == "" {
		return
	}
	path := o.cpuProfile + "-" + part + "-goroutines.txt"
	f, err := os.Create(path)
	if err != nil {
		logf("goroutine dump: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("goroutine").WriteTo(f, 1); err != nil {
		logf("goroutine dump: %v", err)
		return
	}
	logf("goroutines of %s written to %s", part, path)
}
