// Package testutil gives tests their own MariaDB database and Redis key prefix, a TCP proxy
// to cut them, and helpers to read Server-Sent Events, wait on conditions and inspect a
// database. Everything a test creates is removed in t.Cleanup, so packages run in parallel
// and runs repeat without collisions. It boots no app: internal/apptest does that.
package testutil

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"jobs/model"
)

// MySQLDSN is the server tests use: TEST_MYSQL_DSN, or the local MariaDB.
func MySQLDSN() string {
	if dsn := os.Getenv("TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root:@tcp(127.0.0.1:3306)/"
}

// RedisAddr is the Redis tests use: TEST_REDIS_ADDR, or the local Redis.
func RedisAddr() string {
	if addr := os.Getenv("TEST_REDIS_ADDR"); addr != "" {
		return addr
	}
	return "127.0.0.1:6379"
}

// NewDB creates a database with the schema the migrations make and returns its normalized
// DSN. The database is dropped when the test ends.
//
// Running the migrations takes seconds of DDL per database on a busy server, so they run
// once per version of the migrations, into a template database (jobs_test_tmpl_<digest>,
// kept for later runs), whose tables each test database then copies (CREATE TABLE LIKE).
func NewDB(t testing.TB) string {
	t.Helper()
	dsn := NewEmptyDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	template, err := migratedTemplate(ctx)
	if err != nil {
		t.Fatalf("migrate the template database: %v", err)
	}
	if err := copySchema(ctx, dsn, template); err != nil {
		t.Fatalf("copy the template database's schema: %v", err)
	}
	return dsn
}

var template struct {
	once sync.Once
	name string
	err  error
}

// migratedTemplate returns the name of the template database of these migrations,
// migrating it first if no test binary did yet (model.Migrate locks against the others).
func migratedTemplate(ctx context.Context) (string, error) {
	template.once.Do(func() {
		digest, err := model.MigrationsDigest()
		if err != nil {
			template.err = err
			return
		}
		cfg, err := mysql.ParseDSN(MySQLDSN())
		if err != nil {
			template.err = err
			return
		}
		cfg.DBName = "jobs_test_tmpl_" + digest[:16]
		dsn, err := model.NormalizeDSN(cfg.FormatDSN())
		if err != nil {
			template.err = err
			return
		}
		template.name, template.err = cfg.DBName, model.Migrate(ctx, dsn)
	})
	return template.name, template.err
}

// copySchema creates in dsn's database every table of database from, with the rows of its
// schema_migrations.
func copySchema(ctx context.Context, dsn, from string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var tables []string
	rows, err := db.QueryContext(ctx, "SELECT `table_name` FROM `information_schema`.`tables` WHERE `table_schema` = ? ORDER BY 1", from)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, table := range tables {
		if _, err := db.ExecContext(ctx, "CREATE TABLE `"+table+"` LIKE `"+from+"`.`"+table+"`"); err != nil {
			return err
		}
	}
	_, err = db.ExecContext(ctx, "INSERT INTO `schema_migrations` SELECT * FROM `"+from+"`.`schema_migrations`")
	return err
}

// NewEmptyDB creates a database without tables and returns its normalized DSN. The database
// is dropped when the test ends.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLDSN())
	if err != nil {
		t.Fatalf("TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = "jobs_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	dsn, err := model.NormalizeDSN(cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := execOnServer(cfg, "CREATE DATABASE `"+cfg.DBName+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("MariaDB at %s is not usable (%v); start it with: make services", cfg.Addr, err)
	}
	t.Cleanup(func() {
		if err := execOnServer(cfg, "DROP DATABASE IF EXISTS `"+cfg.DBName+"`"); err != nil {
			t.Errorf("drop test database %s: %v", cfg.DBName, err)
		}
	})
	return dsn
}

// execOnServer runs query on cfg's server, outside any database.
func execOnServer(cfg *mysql.Config, query string) error {
	server := *cfg
	server.DBName = ""
	db, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(query)
	return err
}

// DB opens the test database for direct inspection.
func DB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Redis returns a client of the test Redis, closed when the test ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s is not usable (%v); start it with: make services", RedisAddr(), err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// RedisPrefix returns a key prefix of this test's own; its keys are deleted when the test ends.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	prefix := "jobstest:" + uuid.NewString()[:8]
	rdb := Redis(t)
	t.Cleanup(func() { DeleteKeys(t, rdb, prefix) })
	return prefix
}

// DeleteKeys removes every key under prefix: what losing Redis does to this test's data.
func DeleteKeys(t testing.TB, rdb *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("delete keys %s:*: %v", prefix, err)
	}
	// One DEL, atomic like FLUSHALL: a sweeper must not see the epoch marker gone while
	// the stream is still there.
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("delete keys %s:*: %v", prefix, err)
		}
	}
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Query runs a query on the test database and returns the single value it selects.
func Query[T any](t testing.TB, db *sql.DB, query string, args ...any) T {
	t.Helper()
	var v T
	if err := db.QueryRow(query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, fmt.Sprint(err))
	}
	return v
}

// Exec runs a statement on the test database, as a test's own "as if" change to a job the
// running app may be touching at the same moment (its enqueue mark, a sweep). InnoDB may pick
// either of two updates of one row as a deadlock victim; a client retries the victim, and so
// does this.
func Exec(t testing.TB, db *sql.DB, query string, args ...any) sql.Result {
	t.Helper()
	for attempt := 1; ; attempt++ {
		res, err := db.Exec(query, args...)
		var myErr *mysql.MySQLError
		if err != nil && errors.As(err, &myErr) && (myErr.Number == 1213 || myErr.Number == 1205) && attempt < 10 {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return res
	}
}

// LockJob locks the job's row in a transaction of its own until the test ends: another
// writer of the row waits on it as on a slow or stuck transaction (innodb_lock_wait_timeout,
// 50 s here).
func LockJob(t testing.TB, db *sql.DB, id string) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	if _, err := tx.Exec("SELECT id FROM jobs WHERE id = ? FOR UPDATE", id); err != nil {
		t.Fatal(err)
	}
}

// GoroutineStacks returns the stack of every goroutine of the process, each starting with
// its "goroutine N [state]:" header, for a test that checks what is left running.
func GoroutineStacks() []string {
	buf := make([]byte, 1<<20)
	return strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
}
