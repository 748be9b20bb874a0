// Command listbench fills a fresh database with a million jobs and measures the latency
// of GET /api/v1/jobs over real HTTP for the common filters, total included. Results are
// written up in docs/BENCHMARKS-list.md; run it with make bench-list. With -prune it fills
// jobs_prunebench with a million jobs finished a month ago instead and measures job starts
// while retention prunes them all (prune.go, make bench-prune, docs/BENCHMARKS.md).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/app"
	"jobs/internal/auth"
	"jobs/internal/config"
	"jobs/model"
)

const tenant = "bench"

var (
	dsn      = flag.String("dsn", "root:@tcp(127.0.0.1:3306)/jobs_listbench", "database to create (dropped first!) and fill")
	total    = flag.Int("n", 1_000_000, "jobs to insert")
	requests = flag.Int("requests", 300, "measured requests per filter")
	reuse    = flag.Bool("reuse", false, "keep the database if it already holds -n jobs")
	prune    = flag.Bool("prune", false, "measure job starts while a million finished jobs are pruned (default -dsn .../jobs_prunebench)")
	batch    = 2000
	span     = 90 * 24 * time.Hour // created_at spread over the 90 days before start
	// finishedAgo moves every job back further: -prune makes them all older than any retention.
	finishedAgo time.Duration
)

// The data set: 90% of jobs belong to the measured tenant, the rest to nine others.
var (
	statuses = []struct {
		name   string
		weight int
	}{{"completed", 70}, {"failed", 10}, {"cancelled", 5}, {"pending", 10}, {"running", 5}}
	envs = []string{"dev", "staging", "prod"}
)

func main() {
	flag.Parse()
	logx.DisableStat()
	logx.SetLevel(logx.ErrorLevel)
	ctx := context.Background()
	if *prune {
		setUpPrune()
	}
	normalized, err := model.NormalizeDSN(*dsn)
	check(err)
	start := time.Now().UTC().Truncate(time.Millisecond)

	if !*reuse || countFill(normalized) != *total {
		check(dropDatabase(normalized))
		check(model.Migrate(ctx, normalized))
		began := time.Now()
		fill(normalized, start)
		fmt.Printf("inserted %d jobs in %s\n", *total, time.Since(began).Round(time.Millisecond))
	}
	db, err := sql.Open("mysql", normalized)
	check(err)
	_, err = db.Exec("ANALYZE TABLE jobs")
	check(err)
	if *prune {
		benchPrune(ctx, normalized)
		return
	}
	var sample []string
	rows, err := db.Query("SELECT id FROM jobs WHERE tenant_id = ? ORDER BY created_at DESC LIMIT 100 OFFSET 5000", tenant)
	check(err)
	for rows.Next() {
		var id string
		check(rows.Scan(&id))
		sample = append(sample, id)
	}
	check(rows.Err())

	base, token := serve(ctx, normalized)
	day := start.Add(-30 * 24 * time.Hour)
	cases := []struct{ name, query string }{
		{"no filter", ""},
		{"status=completed", "status=completed"},
		{"status=running", "status=running"},
		{"function_id", "function_id=fn-07"},
		{"actor", "actor=user-042"},
		{"env", "env=prod"},
		{"game_id", "game_id=game-13"},
		{"name", "name=report-21"},
		{"ids (100)", "ids=" + strings.Join(sample, ",")},
		{"created range (1 day)", fmt.Sprintf("created_from=%d&created_to=%d", day.UnixMilli(), day.Add(24*time.Hour).UnixMilli())},
		{"created range + status", fmt.Sprintf("created_from=%d&created_to=%d&status=failed", day.UnixMilli(), day.Add(24*time.Hour).UnixMilli())},
		{"status + actor", "status=completed&actor=user-042"},
		{"order=asc", "order=asc"},
		{"size=100", "size=100"},
		{"page=50", "page=50"},
	}
	fmt.Printf("\n%d requests per filter, one at a time, page size 20 unless given, tenant %q (%d of %d jobs)\n\n",
		*requests, tenant, count(normalized, tenant), *total)
	fmt.Println("| filter | total | estimate | p50 ms | p99 ms | max ms |")
	fmt.Println("|---|---:|---|---:|---:|---:|")
	for _, c := range cases {
		var resp struct {
			Total           int64 `json:"total"`
			TotalIsEstimate bool  `json:"totalIsEstimate"`
		}
		var lat []time.Duration
		for i := range *requests + 20 {
			began := time.Now()
			body := get(base+"/api/v1/jobs?"+c.query, token)
			if i >= 20 {
				lat = append(lat, time.Since(began))
			}
			if i == 0 {
				check(json.Unmarshal(body, &resp))
			}
		}
		slices.Sort(lat)
		fmt.Printf("| %s | %d | %v | %.1f | %.1f | %.1f |\n", c.name, resp.Total, resp.TotalIsEstimate,
			ms(pct(lat, 50)), ms(pct(lat, 99)), ms(lat[len(lat)-1]))
	}
}

func serve(ctx context.Context, dsn string) (base, token string) {
	var c config.Config
	check(conf.FillDefault(&c))
	c.Name = "listbench"
	c.Host = "127.0.0.1"
	c.Log.Mode, c.Log.Level, c.Log.Stat = "console", "error", false
	c.Middlewares.Log = false
	c.DevServer.Enabled = false
	c.Role = "api"
	c.MySQL.DataSource = dsn
	c.MySQL.Migrate = false
	a, err := app.New(ctx, c)
	check(err)
	h, err := a.Handler()
	check(err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(l, h)
	token, err = auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: tenant, Actor: "bench"}, time.Hour)
	check(err)
	return "http://" + l.Addr().String(), token
}

func get(u, token string) []byte {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	check(err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	check(err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	check(err)
	if res.StatusCode != http.StatusOK {
		check(fmt.Errorf("GET %s: %d %s", u, res.StatusCode, body))
	}
	return body
}

// fill inserts the jobs with multi-row INSERTs from one writer per core.
func fill(dsn string, start time.Time) {
	db, err := sql.Open("mysql", dsn)
	check(err)
	defer db.Close()
	workers := runtime.NumCPU()
	batches := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			conn, err := db.Conn(context.Background())
			check(err)
			defer conn.Close()
			_, err = conn.ExecContext(context.Background(), "SET unique_checks = 0")
			check(err)
			for first := range batches {
				insertBatch(conn, start, first, min(batch, *total-first))
			}
		})
	}
	for first := 0; first < *total; first += batch {
		batches <- first
		if first%100_000 == 0 && first > 0 {
			fmt.Fprintf(os.Stderr, "  %d\n", first)
		}
	}
	close(batches)
	wg.Wait()
}

const columns = "`id`, `tenant_id`, `function_id`, `name`, `status`, `params`, `error`, `actor`, `game_id`, `env`, " +
	"`attempt`, `max_attempts`, `enqueued_at`, `created_at`, `started_at`, `finished_at`"

func insertBatch(conn *sql.Conn, start time.Time, first, n int) {
	var sb strings.Builder
	sb.WriteString("INSERT INTO `jobs` (" + columns + ") VALUES ")
	args := make([]any, 0, n*16)
	for i := range n {
		k := first + i
		r := mrand.New(mrand.NewPCG(uint64(k), 42))
		// Evenly spread over span, oldest first, so ids (UUIDv7 of created_at) ascend.
		created := start.Add(-span - finishedAgo + time.Duration(float64(span)*float64(k)/float64(*total))).Truncate(time.Millisecond)
		owner := tenant
		if r.IntN(10) == 0 {
			owner = fmt.Sprintf("other-%d", r.IntN(9))
		}
		status := pickStatus(r.IntN(100))
		var started, finished, enqueued any
		switch status {
		case "pending":
			enqueued = created
		case "running":
			started = created.Add(time.Second)
		default:
			started, finished = created.Add(time.Second), created.Add(time.Duration(2+r.IntN(60))*time.Second)
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, '{}', '', ?, ?, ?, 1, 3, ?, ?, ?, ?)")
		args = append(args, uuidV7(created), owner, fmt.Sprintf("fn-%02d", r.IntN(20)), fmt.Sprintf("report-%02d", r.IntN(100)),
			status, fmt.Sprintf("user-%03d", r.IntN(200)), fmt.Sprintf("game-%02d", r.IntN(50)), envs[r.IntN(len(envs))],
			enqueued, created, started, finished)
	}
	_, err := conn.ExecContext(context.Background(), sb.String(), args...)
	check(err)
}

func pickStatus(n int) string {
	for _, s := range statuses {
		if n < s.weight {
			return s.name
		}
		n -= s.weight
	}
	return "completed"
}

// uuidV7 is a UUIDv7 for time t: what the API would have given a job created then.
func uuidV7(t time.Time) string {
	var u uuid.UUID
	_, _ = rand.Read(u[:])
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

func count(dsn string, tenantOnly ...string) int {
	db, err := sql.Open("mysql", dsn)
	check(err)
	defer db.Close()
	var n int
	query, args := "SELECT COUNT(*) FROM jobs", []any{}
	if len(tenantOnly) > 0 {
		query, args = query+" WHERE tenant_id = ?", []any{tenantOnly[0]}
	}
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

func dropDatabase(dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	name := cfg.DBName
	if !strings.Contains(name, "bench") {
		return fmt.Errorf("refusing to drop database %q: its name must contain \"bench\"", name)
	}
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec("DROP DATABASE IF EXISTS `" + strings.ReplaceAll(name, "`", "``") + "`")
	return err
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "listbench:", err)
		os.Exit(1)
	}
}
