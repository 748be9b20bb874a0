package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile returns the nearest-rank q-quantile (0 < q <= 1) of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

type summary struct {
	n                  int
	p50, p90, p99, max time.Duration
	mean               time.Duration
}

func summarize(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return summary{n: len(s), p50: percentile(s, 0.50), p90: percentile(s, 0.90), p99: percentile(s, 0.99),
		max: s[len(s)-1], mean: sum / time.Duration(len(s))}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// row is one line of the results table.
type row struct {
	name, setup, result, floor string
	pass                       bool
	notes                      []string
}

// machine describes where the benchmark ran.
func machine(ctx context.Context, e *env) [][2]string {
	cpu := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := "unknown"
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(fields[1], 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
				}
				break
			}
		}
		f.Close()
	}
	mariadb := "unknown"
	var version string
	if err := e.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err == nil {
		mariadb = version
		var vars []string
		rows, err := e.db.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN "+
			"('innodb_flush_log_at_trx_commit', 'innodb_buffer_pool_size', 'log_bin', 'max_connections')")
		if err == nil {
			for rows.Next() {
				var k, v string
				if rows.Scan(&k, &v) == nil {
					if k == "innodb_buffer_pool_size" {
						if n, err := strconv.ParseInt(v, 10, 64); err == nil {
							v = fmt.Sprintf("%d MiB", n>>20)
						}
					}
					vars = append(vars, k+"="+v)
				}
			}
			rows.Close()
		}
		if len(vars) > 0 {
			mariadb += " (" + strings.Join(vars, ", ") + ")"
		}
	}
	redisVersion := "unknown"
	if info, err := e.rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				redisVersion = v
			}
		}
	}
	code := gitDescribe()
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return [][2]string{
		{"Code", code},
		{"CPU", fmt.Sprintf("%s, nproc %d (GOMAXPROCS %d)", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0))},
		{"Memory", mem},
		{"OS", runtime.GOOS + "/" + runtime.GOARCH},
		{"Go", runtime.Version()},
		{"MariaDB", mariadb},
		{"Redis", redisVersion},
		{"Services", "MariaDB, Redis and the benchmark process (app + load generator) share the machine"},
		{"Load average at the end", load},
	}
}

func printReport(w *os.File, command string, mach [][2]string, cfg []string, rows []row) {
	fmt.Fprintf(w, "\n## Machine\n\n| | |\n|---|---|\n")
	for _, kv := range mach {
		fmt.Fprintf(w, "| %s | %s |\n", kv[0], kv[1])
	}
	fmt.Fprintf(w, "\nCommand: `%s`\n\n", command)
	if len(cfg) > 0 {
		fmt.Fprintf(w, "Config:\n\n")
		for _, c := range cfg {
			fmt.Fprintf(w, "- %s\n", c)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "## Results\n\n| Benchmark | Setup | Result | Floor | Meets floor |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		pass := "yes"
		if !r.pass {
			pass = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.name, r.setup, r.result, r.floor, pass)
	}
	for _, r := range rows {
		if len(r.notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n\n", r.name)
		for _, n := range r.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// gitDescribe names the code measured: the commit checked out and whether the working
// tree differs from it (go run stamps no VCS information into the binary).
func gitDescribe() string {
	rev, err := exec.Command("git", "log", "-1", "--format=%h %cI").Output()
	if err != nil {
		return "unknown (git log failed)"
	}
	code := "commit " + strings.TrimSpace(string(rev))
	if status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if n := len(strings.Split(strings.TrimSpace(string(status)), "\n")); strings.TrimSpace(string(status)) != "" {
			code += fmt.Sprintf(" plus uncommitted changes to %d tracked files", n)
		}
	}
	return code
}
