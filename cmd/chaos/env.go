package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-sql-driver/mysql"

	"jobs/internal/auth"
	"jobs/model"
)

// Settings of the scenario processes that differ from the defaults, so recoveries take
// seconds instead of the defaults' tens of seconds (README, "Chaos battery"). StaleEnqueue
// keeps its default of 5 minutes: a job that needs it to start again is a failure here.
const (
	lease          = 5 * time.Second
	heartbeat      = time.Second
	claimIdle      = 5 * time.Second
	sweepInterval  = time.Second
	shutdownGrace  = 3 * time.Second
	checkInterval  = time.Second
	accessSecret   = "chaos-battery-secret"
	tenant         = "chaos"
	processTimeout = 30 * time.Second // for a jobs process to answer HTTP after it starts
)

// battery is what every scenario shares: the jobs binary, the temp dir, the servers and
// the recorder, and the range of ports the jobs processes listen on.
type battery struct {
	bin      string
	dir      string
	logs     string
	mariadb  *mariaDB
	redis    *redisServer
	rec      *recorder
	ports    []int
	nextPort int
}

// port returns the next free port of the battery's range for a jobs process.
func (b *battery) port() (int, error) {
	for range b.ports {
		p := b.ports[b.nextPort%len(b.ports)]
		b.nextPort++
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d", b.ports[0], b.ports[len(b.ports)-1])
}

// env is one scenario's world: a database and Redis prefix of its own, a token of the
// scenario tenant, and the jobs processes it started.
type env struct {
	b      *battery
	dsn    string // as the processes get it
	prefix string
	db     *sql.DB // the battery's own reads, with short timeouts
	token  string
	procs  []*jobsProc
}

// newEnv creates and migrates the scenario's database and forgets what the recorder saw.
func (b *battery) newEnv(ctx context.Context, n int) (*env, error) {
	cfg, err := mysql.ParseDSN(b.mariadb.serverDSN())
	if err != nil {
		return nil, err
	}
	cfg.DBName = fmt.Sprintf("jobs_chaos_%d", n)
	e := &env{b: b, dsn: cfg.FormatDSN(), prefix: fmt.Sprintf("chaos%d", n)}
	if err := model.Migrate(ctx, e.dsn); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", cfg.DBName, err)
	}
	// The battery keeps reading while MariaDB is down: each read gives up quickly.
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Second, 5*time.Second, 5*time.Second
	readDSN, err := model.NormalizeDSN(cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	if e.db, err = sql.Open("mysql", readDSN); err != nil {
		return nil, err
	}
	e.db.SetMaxOpenConns(4)
	if e.token, err = auth.Mint(accessSecret, auth.Identity{Tenant: tenant, Actor: "chaos"}, time.Hour); err != nil {
		return nil, err
	}
	b.rec.reset()
	return e, nil
}

// close SIGKILLs the scenario's processes that are still running.
func (e *env) close() {
	for _, p := range e.procs {
		if !p.exited() {
			p.kill()
		}
	}
	e.db.Close()
}

// crashed describes the scenario's processes that exited without being told to.
func (e *env) crashed() []string {
	var out []string
	for _, p := range e.procs {
		if msg := p.crashed(); msg != "" {
			out = append(out, msg)
		}
	}
	return out
}

// jobsProc is the jobs binary running one role.
type jobsProc struct {
	*child
	url string // its API, for role api
}

// startJobs runs the jobs binary as role api or worker, named name (its X-Chaos-Process
// header and log file), with concurrency workers. An API process is returned once it answers.
func (e *env) startJobs(ctx context.Context, name, role string, concurrency int) (*jobsProc, error) {
	port, err := e.b.port()
	if err != nil {
		return nil, err
	}
	file := filepath.Join(e.b.dir, fmt.Sprintf("%s-%s.yaml", e.prefix, name))
	if err := os.WriteFile(file, []byte(e.config(name, port, concurrency)), 0o600); err != nil {
		return nil, err
	}
	c, err := startChild(name, filepath.Join(e.b.logs, fmt.Sprintf("%s-%s.log", e.prefix, name)), e.b.bin, "-f", file, "-role", role)
	if err != nil {
		return nil, err
	}
	p := &jobsProc{child: c}
	e.procs = append(e.procs, p)
	if role != "api" {
		return p, nil
	}
	p.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(processTimeout)
	for {
		resp, err := http.Get(p.url + "/api/v1/functions") // any answer (a 401) means it serves
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		switch {
		case p.exited():
			return nil, fmt.Errorf("%s exited while starting (%v):\n%s", name, p.err, p.logTail(20))
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%s did not answer on %s within %s", name, p.url, processTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config is the YAML of one scenario process.
func (e *env) config(name string, port, concurrency int) string {
	return fmt.Sprintf(`Name: chaos-%[1]s
Mode: dev
Host: 127.0.0.1
Port: %[2]d
CpuThreshold: 0
Log:
  Mode: console
  Encoding: plain
  Level: error
  Stat: false
MySQL:
  DataSource: %[3]q
  Migrate: false
Redis:
  Addr: %[4]q
  Prefix: %[5]q
Worker:
  Concurrency: %[6]d
  Lease: %[7]s
  Heartbeat: %[8]s
  ClaimIdle: %[9]s
  ShutdownGrace: %[10]s
Recovery:
  Interval: %[11]s
Events:
  CheckInterval: %[12]s
Auth:
  AccessSecret: %[13]q
Functions:
  - Id: %[14]s
    Kind: http
    Description: Tells the chaos battery's recorder it runs, then waits params.ms.
    Timeout: 1m
    MaxAttempts: 10
    Backoff: 100ms
    MaxBackoff: 1s
    HTTP:
      URL: %[15]q
      Headers: {X-Chaos-Process: %[1]q}
`, name, port, e.dsn, e.b.redis.addr(), e.prefix, concurrency, lease, heartbeat, claimIdle, shutdownGrace,
		sweepInterval, checkInterval, accessSecret, workFunction, e.b.rec.url)
}
