package model

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"slices"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/zeromicro/go-zero/core/breaker"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/stores/sqlx"
	"github.com/zeromicro/go-zero/core/trace"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"

	"jobs/internal/apperr"
	"jobs/internal/tracing"
)

// Open returns a pool of at most maxOpen connections to dsn (normalized, see NormalizeDSN)
// and go-zero's SqlConn over it. Unlike sqlx.NewMysql, whose pools live as long as the
// process, the caller owns the pool and closes it on shutdown.
//
// Errors that mean MySQL could not serve come back typed as apperr.Outage("mysql"), so the
// API answers them with 503 "mysql unavailable". go-zero's circuit breaker in front of the
// pool is kept from ever opening: with one primary there is no fallback for it to protect,
// and once open it kept refusing queries for seconds after MySQL was back (docs/ARCHITECTURE.md,
// "Outages").
func Open(dsn string, maxOpen int) (*sql.DB, sqlx.SqlConn, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxIdleTime(time.Minute)
	neverTrip := sqlx.WithAcceptable(func(error) bool { return true })
	return db, outageConn{sqlx.NewSqlConnFromDB(db, neverTrip)}, nil
}

// unavailableErrors are MySQL server errors that mean it cannot serve now: too many
// connections, shutting down, read-only (a failover in progress), connection killed.
var unavailableErrors = []uint16{1040, 1053, 1290, 1836, 1927}

// errPoolClosed is database/sql's error for a statement on a closed pool, which it does not
// export: a request still served by a caller's server after App.Stop meets it.
var errPoolClosed = func() error {
	connector, err := mysql.NewConnector(mysql.NewConfig())
	if err != nil {
		panic(err) // the driver's default config is valid
	}
	db := sql.OpenDB(connector)
	_ = db.Close()
	return db.Ping()
}()

// IsUnavailable reports whether err means MySQL could not serve the statement: it could not
// be reached, dropped the connection, refused with one of unavailableErrors, or the pool was
// closed (shutdown).
func IsUnavailable(err error) bool {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return slices.Contains(unavailableErrors, my.Number)
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, errPoolClosed) || errors.Is(err, breaker.ErrServiceUnavailable) || apperr.IsConnectionFailure(err)
}

// outageConn types the errors of conn that mean MySQL is unavailable (IsUnavailable), and
// keeps statements outside a request or an attempt out of traces (tracing.Within).
type outageConn struct {
	conn sqlx.SqlConn
}

// run calls f and types its error as a MySQL outage if it is one. A context already done
// when f starts is the caller's doing (a deadline passed while waiting on something else):
// its error is left as it is.
func run(ctx context.Context, f func() error) error {
	if ctx.Err() != nil {
		return f()
	}
	err := f()
	if err != nil && IsUnavailable(err) {
		return apperr.Outage("mysql", err)
	}
	return err
}

func (c outageConn) ExecCtx(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	ctx = tracing.Within(ctx)
	err = run(ctx, func() error { res, err = c.conn.ExecCtx(ctx, query, args...); return err })
	return res, err
}

func (c outageConn) PrepareCtx(ctx context.Context, query string) (st sqlx.StmtSession, err error) {
	ctx = tracing.Within(ctx)
	err = run(ctx, func() error { st, err = c.conn.PrepareCtx(ctx, query); return err })
	return st, err
}

func (c outageConn) QueryRowCtx(ctx context.Context, v any, query string, args ...any) error {
	ctx = tracing.Within(ctx)
	return run(ctx, func() error { return c.conn.QueryRowCtx(ctx, v, query, args...) })
}

func (c outageConn) QueryRowPartialCtx(ctx context.Context, v any, query string, args ...any) error {
	ctx = tracing.Within(ctx)
	return run(ctx, func() error { return c.conn.QueryRowPartialCtx(ctx, v, query, args...) })
}

func (c outageConn) QueryRowsCtx(ctx context.Context, v any, query string, args ...any) error {
	ctx = tracing.Within(ctx)
	return run(ctx, func() error { return c.conn.QueryRowsCtx(ctx, v, query, args...) })
}

func (c outageConn) QueryRowsPartialCtx(ctx context.Context, v any, query string, args ...any) error {
	ctx = tracing.Within(ctx)
	return run(ctx, func() error { return c.conn.QueryRowsPartialCtx(ctx, v, query, args...) })
}

func (c outageConn) TransactCtx(ctx context.Context, fn func(context.Context, sqlx.Session) error) error {
	ctx = tracing.Within(ctx)
	return run(ctx, func() error { return c.conn.TransactCtx(ctx, fn) })
}

func (c outageConn) RawDB() (*sql.DB, error) { return c.conn.RawDB() }

// slowExec is go-zero's threshold for its slow-statement log, which execUnformatted keeps.
const slowExec = 500 * time.Millisecond

// execer runs statements: a pool (*sql.DB) or a transaction (*sql.Tx).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// execUnformatted runs query on db (a pool, or a transaction of transactUnformatted) past
// go-zero's SqlConn, as outageConn would (outages typed, within the caller's trace), for
// statements too big to log. go-zero formats every statement with its arguments before
// running it, for logs: for an INSERT of 1,000 jobs (39,000 values) that was a tenth of the
// batch route's CPU, and its slow log then printed the whole statement. Here a slow or failed
// statement is logged by what, its summary.
func execUnformatted(ctx context.Context, db execer, what, query string, args ...any) (res sql.Result, err error) {
	ctx, span := trace.TracerFromContext(ctx).Start(tracing.Within(ctx), "sql", oteltrace.WithSpanKind(oteltrace.SpanKindClient))
	defer span.End()
	start := time.Now()
	err = run(ctx, func() error { res, err = db.ExecContext(ctx, query, args...); return err })
	log := logx.WithContext(ctx)
	if took := time.Since(start); took > slowExec {
		log.WithDuration(took).Slowf("[SQL] exec: slowcall - %s", what)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		log.Errorf("[SQL] %s: %v", what, err)
	}
	return res, err
}

// transactUnformatted runs fn in one transaction on db, for execUnformatted's statements
// (go-zero's TransactCtx hands fn a Session that formats them), with outages typed.
func transactUnformatted(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	var tx *sql.Tx
	if err := run(ctx, func() (err error) { tx, err = db.BeginTx(ctx, nil); return err }); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return run(ctx, tx.Commit)
}

// The methods without a context run with context.Background(), as go-zero's do.

func (c outageConn) Exec(query string, args ...any) (sql.Result, error) {
	return c.ExecCtx(context.Background(), query, args...)
}

func (c outageConn) Prepare(query string) (sqlx.StmtSession, error) {
	return c.PrepareCtx(context.Background(), query)
}

func (c outageConn) QueryRow(v any, query string, args ...any) error {
	return c.QueryRowCtx(context.Background(), v, query, args...)
}

func (c outageConn) QueryRowPartial(v any, query string, args ...any) error {
	return c.QueryRowPartialCtx(context.Background(), v, query, args...)
}

func (c outageConn) QueryRows(v any, query string, args ...any) error {
	return c.QueryRowsCtx(context.Background(), v, query, args...)
}

func (c outageConn) QueryRowsPartial(v any, query string, args ...any) error {
	return c.QueryRowsPartialCtx(context.Background(), v, query, args...)
}

func (c outageConn) Transact(fn func(sqlx.Session) error) error {
	return c.TransactCtx(context.Background(), func(_ context.Context, s sqlx.Session) error { return fn(s) })
}

// The MySQL driver's own messages (a connection lost mid-packet, say) go to the service's
// log instead of stderr. Its logger is a package variable: set before any connection.
func init() { _ = mysql.SetLogger(driverLog{}) }

type driverLog struct{}

func (driverLog) Print(v ...any) { logx.Error(append([]any{"mysql driver: "}, v...)...) }
