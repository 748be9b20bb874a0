// Command chaos is the fault battery of make chaos. It starts a MariaDB and a Redis of its
// own (ports 3316 and 6386, data in a temp dir), runs the jobs binary as API and worker
// processes on 127.0.0.1 against them, and injects faults under load: worker SIGKILLs,
// Redis flushed and restarted empty, MariaDB killed, a worker SIGTERMed, an API killed under
// open streams. For each scenario it prints the jobs acknowledged, lost (must be 0), run
// twice, and the recovery time; it exits 1 on any loss or on a scenario that does not
// finish within its bound. Everything it started is stopped on exit, Ctrl-C included.
//
//	go run ./cmd/chaos [-bin bin/jobs] [-only 1,3]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/zeromicro/go-zero/core/logx"
)

func main() {
	os.Exit(run())
}

func run() int {
	bin := flag.String("bin", "bin/jobs", "the jobs binary to run (make build)")
	mysqlPort := flag.Int("mysql-port", 3316, "port of the battery's own MariaDB")
	redisPort := flag.Int("redis-port", 6386, "port of the battery's own Redis")
	firstPort := flag.Int("ports", 18100, "first of the 100 ports of the recorder (this one) and the jobs processes")
	only := flag.String("only", "", "run only these scenarios, by number, comma-separated (default all)")
	keep := flag.Bool("keep", false, "keep the temp dir (data and logs) even when every scenario passes")
	flag.Parse()

	// model and auth bring in go-zero's logging: no CPU and memory lines, and no "Got
	// signal" line on Ctrl-C from its signal handler (the battery's own handler cleans up).
	logx.DisableStat()
	logx.SetLevel(logx.ErrorLevel)
	selected, err := parseOnly(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	binPath, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(binPath)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: the jobs binary: %v (build it with make build)\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	dir, err := os.MkdirTemp("", "jobs-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	b := &battery{bin: binPath, dir: dir, logs: filepath.Join(dir, "logs")}
	for p := *firstPort + 1; p < *firstPort+100; p++ {
		b.ports = append(b.ports, p)
	}
	passed := false
	defer func() {
		// Jobs processes first, so they do not log the servers' shutdown as errors.
		stopChildren(func(c *child) bool { return c.name != "mariadb" && c.name != "redis" }, 5*time.Second)
		stopChildren(func(*child) bool { return true }, 30*time.Second)
		if b.rec != nil {
			b.rec.close()
		}
		if (passed || ctx.Err() != nil) && !*keep {
			os.RemoveAll(dir)
			return
		}
		// The data directories are large and of no use; the logs say what happened.
		os.RemoveAll(filepath.Join(dir, "mariadb"))
		fmt.Printf("logs of the scenario processes, MariaDB and Redis: %s\n", b.logs)
	}()
	if err := os.MkdirAll(b.logs, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}

	fmt.Printf("chaos: MariaDB on 127.0.0.1:%d, Redis on 127.0.0.1:%d, jobs processes on %d-%d (temp dir %s)\n",
		*mysqlPort, *redisPort, *firstPort+1, *firstPort+99, dir)
	if b.mariadb, err = newMariaDB(ctx, dir, b.logs, *mysqlPort); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: MariaDB:", err)
		return 1
	}
	if b.redis, err = newRedis(ctx, filepath.Join(dir, "redis"), b.logs, *redisPort); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: Redis:", err)
		return 1
	}
	if b.rec, err = newRecorder(*firstPort); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	fmt.Printf("chaos: servers up after %s\n", seconds(time.Since(began)))

	var results []*result
	for i, sc := range scenarios {
		if len(selected) > 0 && !selected[i+1] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Printf("\n== %d. %s (bound %s)\n", i+1, sc.name, sc.bound)
		res := b.runScenario(ctx, i+1, sc.short, sc.bound, sc.run)
		if ctx.Err() != nil {
			break // interrupted: its result would only list what the interruption cut short
		}
		printResult(res)
		results = append(results, res)
	}
	if ctx.Err() != nil {
		fmt.Println("\nchaos: interrupted; stopping everything it started")
		return 130
	}
	passed = printSummary(results, time.Since(began))
	if !passed {
		return 1
	}
	return 0
}

// runScenario runs one scenario within bound on a fresh env, after making sure MariaDB and
// Redis are up (a failed scenario may have left one down).
func (b *battery) runScenario(ctx context.Context, n int, name string, bound time.Duration,
	run func(context.Context, *scene) error) *result {
	res := &result{name: fmt.Sprintf("%d. %s", n, name)}
	start := time.Now()
	defer func() { res.took = time.Since(start) }()
	sctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	if err := b.ensureServers(sctx); err != nil {
		res.fail("%v", err)
		return res
	}
	e, err := b.newEnv(sctx, n)
	if err != nil {
		res.fail("%v", err)
		return res
	}
	defer e.close()
	err = run(sctx, &scene{env: e, res: res, start: start})
	switch {
	case sctx.Err() == context.DeadlineExceeded:
		res.fail("did not finish within its bound of %s", bound)
	case err != nil:
		res.fail("%v", err)
	}
	for _, crash := range e.crashed() {
		res.fail("%s", crash)
	}
	return res
}

// ensureServers restarts MariaDB or Redis if a scenario left it down.
func (b *battery) ensureServers(ctx context.Context) error {
	if b.mariadb.proc.exited() {
		if err := b.mariadb.start(ctx); err != nil {
			return err
		}
	}
	if b.redis.proc.exited() {
		return b.redis.start(ctx)
	}
	return nil
}

func parseOnly(s string) (map[int]bool, error) {
	selected := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > len(scenarios) {
			return nil, fmt.Errorf("-only: %q is not a scenario number (1-%d)", f, len(scenarios))
		}
		selected[n] = true
	}
	return selected, nil
}

func printResult(r *result) {
	for _, n := range r.notes {
		fmt.Printf("   %s\n", n)
	}
	refused := r.refused
	if refused == "" {
		refused = "none"
	}
	fmt.Printf("   answers that did not acknowledge a start (retried): %s\n", refused)
	fmt.Printf("   acknowledged %d, lost %d, run twice %d, recovery %s, took %s: %s\n",
		r.acked, r.lost, r.runTwice, seconds(r.recovery), seconds(r.took), verdict(r))
	for _, f := range r.failures {
		fmt.Printf("   FAIL: %s\n", f)
	}
}

// printSummary prints one line per scenario and reports whether all passed.
func printSummary(results []*result, took time.Duration) bool {
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tacknowledged\tlost\trun twice\trecovery\ttook\tresult\t")
	failed := 0
	for _, r := range results {
		if len(r.failures) > 0 {
			failed++
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n", r.name, r.acked, r.lost, r.runTwice,
			seconds(r.recovery), seconds(r.took), verdict(r))
	}
	w.Flush()
	if failed > 0 {
		fmt.Printf("chaos: %d of %d scenarios FAILED (%s)\n", failed, len(results), seconds(took))
		return false
	}
	fmt.Printf("chaos: all %d scenarios passed (%s)\n", len(results), seconds(took))
	return true
}

func verdict(r *result) string {
	if len(r.failures) > 0 {
		return "FAIL"
	}
	return "ok"
}
