package starts_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/queue"
	"jobs/internal/starts"
	"jobs/internal/testutil"
	"jobs/model"
)

// countingConn counts the INSERT statements that reach MariaDB: it wraps the driver's
// connection, below every path a statement takes (InsertMany runs its own past go-zero's
// SqlConn, on the pool).
type countingConn struct {
	mysqlConn
	inserts *atomic.Int64
}

// mysqlConn is what go-sql-driver's connection implements, so database/sql uses the same
// paths through the wrapper as without it.
type mysqlConn interface {
	driver.Conn
	driver.ExecerContext
	driver.QueryerContext
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

func (c countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if strings.HasPrefix(strings.ToLower(query), "insert") {
		c.inserts.Add(1)
	}
	return c.mysqlConn.ExecContext(ctx, query, args)
}

type countingConnector struct {
	driver.Connector
	inserts *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return countingConn{conn.(mysqlConn), c.inserts}, nil
}

// countingDB opens dsn with every INSERT sent counted in inserts.
func countingDB(t *testing.T, dsn string, inserts *atomic.Int64) sqlx.SqlConn {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(countingConnector{connector, inserts})
	t.Cleanup(func() { db.Close() })
	return sqlx.NewSqlConnFromDB(db)
}

func newJob(key string) *model.Jobs {
	now := time.Now().UTC()
	job := &model.Jobs{Id: uuid.Must(uuid.NewV7()).String(), TenantId: "t", FunctionId: "echo", Status: string(model.StatusPending),
		Params: "{}", MaxAttempts: 1, CreatedAt: now}
	job.EnqueuedAt.Time, job.EnqueuedAt.Valid = now, true
	job.IdempotencyKey.String, job.IdempotencyKey.Valid = key, key != ""
	return job
}

// Concurrent starts share statements, every one is committed and enqueued once, and starts
// with one idempotency key get one job.
func TestConcurrentStartsAreWrittenTogether(t *testing.T) {
	t.Parallel()
	dsn := testutil.NewDB(t)
	var inserts atomic.Int64
	jobs := model.NewJobsModel(countingDB(t, dsn, &inserts))
	rdb, prefix := testutil.Redis(t), testutil.RedisPrefix(t)
	q := queue.New(rdb, prefix)
	w := starts.New(jobs, events.NewBus(rdb, prefix, config.EventsConf{MaxLen: 100, Retain: time.Hour, RetainDone: time.Minute}),
		dispatch.New(jobs, q))

	const n = 200
	held := make([]*model.Jobs, n)
	var wg sync.WaitGroup
	for i := range n {
		key := ""
		if i%10 == 0 {
			key = "same"
		}
		wg.Go(func() {
			var err error
			if held[i], err = w.Start(context.Background(), newJob(key)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	db := testutil.DB(t, dsn)
	if stored := testutil.Query[int](t, db, "SELECT COUNT(*) FROM jobs"); stored != n-n/10+1 {
		t.Errorf("%d jobs stored, want %d (one for the 20 starts with one key)", stored, n-n/10+1)
	}
	for i := 10; i < n; i += 10 {
		if held[i].Id != held[0].Id {
			t.Fatalf("starts with one key got jobs %s and %s", held[0].Id, held[i].Id)
		}
	}
	if backlog, err := q.Backlog(context.Background()); err != nil || backlog != int64(n-n/10+1) {
		t.Errorf("stream holds %d entries (%v), want one per stored job", backlog, err)
	}
	// Written one by one they take n statements; four writers carrying what arrives during
	// each other's round trips take a handful (2 to 5 here, on 2 busy cores).
	if got := inserts.Load(); got > n/10 {
		t.Errorf("%d INSERT statements for %d concurrent starts, want at most %d: they were not written together", got, n, n/10)
	}
	t.Logf("%d concurrent starts in %d INSERT statements", n, inserts.Load())
}
