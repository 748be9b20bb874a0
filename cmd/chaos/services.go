package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// serviceReady bounds how long a MariaDB or Redis start (or restart) may take.
const serviceReady = 60 * time.Second

// mariaDB is the battery's own MariaDB server: data directory, socket and pid file in the
// battery's temp dir, listening on 127.0.0.1 only. Commits are durable (the defaults:
// innodb_flush_log_at_trx_commit=1), so a kill -9 loses nothing that was acknowledged.
type mariaDB struct {
	dir  string
	port int
	logs string
	proc *child
}

// newMariaDB initialises a data directory under dir and starts the server on port.
func newMariaDB(ctx context.Context, dir, logs string, port int) (*mariaDB, error) {
	if err := checkPortFree(port, "MariaDB"); err != nil {
		return nil, err
	}
	m := &mariaDB{dir: dir, port: port, logs: logs}
	install := exec.CommandContext(ctx, "mariadb-install-db", "--no-defaults", "--datadir="+m.dataDir(),
		"--user=root", "--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	return m, m.start(ctx)
}

func (m *mariaDB) dataDir() string { return filepath.Join(m.dir, "mariadb") }

// serverDSN is the go-sql-driver DSN of the server, no database selected.
func (m *mariaDB) serverDSN() string { return fmt.Sprintf("root@tcp(127.0.0.1:%d)/", m.port) }

// start runs mariadbd on the data directory and waits until it answers queries; it is
// also the restart after a kill (InnoDB recovers the data directory on start).
func (m *mariaDB) start(ctx context.Context) error {
	proc, err := startChild("mariadb", filepath.Join(m.logs, "mariadb.log"), "mariadbd", "--no-defaults",
		"--datadir="+m.dataDir(), "--user=root", // mariadbd refuses to run as root without it
		"--port="+strconv.Itoa(m.port), "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--socket="+filepath.Join(m.dir, "mariadb.sock"), "--pid-file="+filepath.Join(m.dir, "mariadb.pid"),
		"--skip-log-bin", "--max-connections=1000", "--innodb-buffer-pool-size=128M")
	if err != nil {
		return err
	}
	m.proc = proc
	db, err := sql.Open("mysql", m.serverDSN()+"?timeout=1s")
	if err != nil {
		return err
	}
	defer db.Close()
	return waitReady(ctx, proc, "MariaDB", func(ctx context.Context) error { return db.PingContext(ctx) })
}

// kill SIGKILLs the server, as a crash would.
func (m *mariaDB) kill() { m.proc.kill() }

// stop shuts the server down cleanly (it has its whole data directory to flush).
func (m *mariaDB) stop() { m.proc.stop(30 * time.Second) }

// redisServer is the battery's own Redis: no persistence, so a restart comes back empty.
type redisServer struct {
	dir    string
	port   int
	logs   string
	proc   *child
	client *redis.Client
}

// newRedis starts Redis on port with its working directory in dir.
func newRedis(ctx context.Context, dir, logs string, port int) (*redisServer, error) {
	if err := checkPortFree(port, "Redis"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &redisServer{dir: dir, port: port, logs: logs}
	r.client = redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: time.Second})
	return r, r.start(ctx)
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// start runs redis-server and waits for it to answer PING; it is also the restart after a
// kill, which comes back empty.
func (r *redisServer) start(ctx context.Context) error {
	proc, err := startChild("redis", filepath.Join(r.logs, "redis.log"), "redis-server",
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no")
	if err != nil {
		return err
	}
	r.proc = proc
	return waitReady(ctx, proc, "Redis", func(ctx context.Context) error { return r.client.Ping(ctx).Err() })
}

// flushAll empties the server, as an operator's FLUSHALL would.
func (r *redisServer) flushAll(ctx context.Context) error { return r.client.FlushAll(ctx).Err() }

// kill SIGKILLs the server; whatever it held is gone.
func (r *redisServer) kill() { r.proc.kill() }

func (r *redisServer) stop() {
	r.client.Close()
	r.proc.stop(10 * time.Second)
}

// waitReady polls ping until it succeeds, the process exits or serviceReady passes.
func waitReady(ctx context.Context, proc *child, what string, ping func(context.Context) error) error {
	deadline := time.Now().Add(serviceReady)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := ping(pctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case proc.exited():
			return fmt.Errorf("%s exited while starting (%v):\n%s", what, proc.err, proc.logTail(20))
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("%s did not answer within %s: %v\n%s", what, serviceReady, err, proc.logTail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkPortFree refuses a port something already listens on: the battery never talks to a
// server it did not start.
func checkPortFree(port int, what string) error {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 500*time.Millisecond)
	if err != nil {
		return nil
	}
	conn.Close()
	return fmt.Errorf("port %d, where the battery runs its own %s, is already in use; stop whatever listens there (make chaos never touches a server it did not start)", port, what)
}
