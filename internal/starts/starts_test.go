package starts_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// countingConn counts the INSERT statements that reach MariaDB.
type countingConn struct {
	sqlx.SqlConn
	inserts *atomic.Int64
}

func (c countingConn) ExecCtx(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if strings.HasPrefix(query, "insert") {
		c.inserts.Add(1)
	}
	return c.SqlConn.ExecCtx(ctx, query, args...)
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
	jobs := model.NewJobsModel(countingConn{sqlx.NewMysql(dsn), &inserts})
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
	if got := inserts.Load(); got >= n {
		t.Errorf("%d INSERT statements for %d concurrent starts: none were written together", got, n)
	}
	t.Logf("%d concurrent starts in %d INSERT statements", n, inserts.Load())
}
