package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/app"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/model"
)

// env is one benchmark run's own database and Redis key prefix. Every part of the run
// shares the database and empties the jobs table before it starts (one database, created
// and migrated once, dropped once); each part gets a Redis prefix of its own under the run's.
type env struct {
	opts   *options
	server *mysql.Config // the MariaDB server, no database selected
	dbName string
	dsn    string // normalized DSN of the run's database
	db     *sql.DB
	rdb    *redis.Client
	prefix string // jobsbench:<random>
}

func newEnv(ctx context.Context, o *options) (_ *env, err error) {
	server, err := mysql.ParseDSN(o.mysqlDSN)
	if err != nil {
		return nil, fmt.Errorf("-mysql: %w", err)
	}
	server.DBName = ""
	e := &env{opts: o, server: server}
	e.dbName = "jobs_bench_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	e.prefix = "jobsbench:" + uuid.NewString()[:8]

	cfg := server.Clone()
	cfg.DBName = e.dbName
	if e.dsn, err = model.NormalizeDSN(cfg.FormatDSN()); err != nil {
		return nil, err
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: o.redisAddr})
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("Redis at %s is not usable (%v); start it with: make services", o.redisAddr, err)
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := model.Migrate(mctx, e.dsn); err != nil {
		// Migrate may have created the database before failing.
		e.dropDB()
		return nil, fmt.Errorf("MariaDB at %s is not usable (%v); start it with: make services", server.Addr, err)
	}
	if e.db, err = sql.Open("mysql", e.dsn); err != nil {
		e.dropDB()
		return nil, err
	}
	e.db.SetMaxOpenConns(4)
	return e, nil
}

// close drops the database and deletes every key under the run's prefix.
func (e *env) close() {
	if e.db != nil {
		e.db.Close()
		e.dropDB()
	}
	if e.rdb != nil {
		if n, err := deleteKeys(context.Background(), e.rdb, e.prefix); err != nil {
			logf("delete Redis keys %s:*: %v (deleted %d)", e.prefix, err, n)
		}
		e.rdb.Close()
	}
}

func (e *env) dropDB() {
	db, err := sql.Open("mysql", e.server.FormatDSN())
	if err == nil {
		_, err = db.Exec("DROP DATABASE IF EXISTS `" + e.dbName + "`")
		db.Close()
	}
	if err != nil {
		logf("drop database %s: %v", e.dbName, err)
	}
}

// deleteKeys unlinks every key under prefix, a SCAN page at a time (the event streams
// leave two keys per job).
func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) (int, error) {
	n := 0
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+":*", 1000).Result()
		if err != nil {
			return n, err
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return n, err
			}
			n += len(keys)
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}

// reset empties the jobs table for the next part and returns a fresh key prefix for it.
func (e *env) reset(ctx context.Context, part string) (string, error) {
	if _, err := e.db.ExecContext(ctx, "TRUNCATE TABLE `jobs`"); err != nil {
		return "", fmt.Errorf("truncate jobs: %w", err)
	}
	return e.prefix + ":" + part, nil
}

// config is apptest.Config's recipe without testing.TB: defaults, quiet logs, the run's
// database and the part's prefix, and the worker settings of the flags.
func (e *env) config(role, prefix string) (config.Config, error) {
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		return c, err
	}
	c.Name = "jobs-bench"
	c.Host = "127.0.0.1"
	c.Log.Mode = "console"
	c.Log.Level = "error"
	c.Log.Stat = false
	c.Role = role
	c.CpuThreshold = e.opts.cpuThreshold
	c.MySQL.DataSource = e.dsn
	c.MySQL.Migrate = false
	c.Redis.Addr = e.opts.redisAddr
	c.Redis.Prefix = prefix
	c.Worker.Concurrency = e.opts.concurrency
	c.Worker.BatchSize = e.opts.batch
	return c, nil
}

// started is an app running in this process, serving HTTP on a loopback listener if its
// role has the API.
type started struct {
	*app.App
	URL string
	srv *httptest.Server
}

// startApp builds an app for c with the built-in functions plus extra, starts its
// background parts and, if its role has the API, serves it on a loopback listener.
func startApp(ctx context.Context, c config.Config, extra ...*functions.Definition) (*started, error) {
	a, err := app.New(ctx, c, extra...)
	if err != nil {
		return nil, fmt.Errorf("app.New: %w", err)
	}
	quietLog.install() // after New: the first logx.SetUp installs a console writer
	if err := a.StartBackground(ctx); err != nil {
		return nil, fmt.Errorf("start: %w", err) // it has stopped the app
	}
	s := &started{App: a}
	if c.Runs("api") {
		h, err := a.Handler()
		if err != nil {
			a.Stop(context.Background())
			return nil, err
		}
		s.srv = httptest.NewServer(h)
		s.URL = s.srv.URL
	}
	return s, nil
}

func (s *started) stop() {
	if s.srv != nil {
		s.srv.Close()
	}
	s.App.Stop(context.Background())
	quietLog.install() // in case stopping closed logx's writer
}

// count runs a COUNT(*) query.
func (e *env) count(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := e.db.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// redisMemory returns Redis's used_memory in bytes.
func (e *env) redisMemory(ctx context.Context) int64 {
	info, err := e.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// countKeys counts the keys under prefix and sums MEMORY USAGE over the first sample of
// them, returning the mean per key.
func (e *env) countKeys(ctx context.Context, prefix string, sample int) (n int, meanBytes int64, err error) {
	var cursor uint64
	var sampled, total int64
	for {
		keys, next, err := e.rdb.Scan(ctx, cursor, prefix+":*", 1000).Result()
		if err != nil {
			return n, 0, err
		}
		n += len(keys)
		for _, k := range keys {
			if sampled >= int64(sample) {
				break
			}
			if b, err := e.rdb.MemoryUsage(ctx, k).Result(); err == nil {
				total += b
				sampled++
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if sampled > 0 {
		meanBytes = total / sampled
	}
	return n, meanBytes, nil
}
