package model_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/apperr"
	"jobs/internal/testutil"
	"jobs/model"
)

// InsertMany runs its INSERT past go-zero's sqlx; a MySQL it cannot reach must still answer
// as an outage (a 503 "mysql unavailable"), as every other statement does.
func TestInsertManyTypesAnOutage(t *testing.T) {
	t.Parallel()
	dsn, err := model.NormalizeDSN("root@tcp(127.0.0.1:1)/nowhere?timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	db, conn, err := model.Open(dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	job := &model.Jobs{Id: "01a22982-edeb-7aa0-9dd0-b74c464eb93b", TenantId: "t", FunctionId: "echo",
		Status: string(model.StatusPending), Params: "{}", CreatedAt: time.Now().UTC()}
	_, err = model.NewJobsModel(conn).InsertMany(context.Background(), []*model.Jobs{job})
	if kind := apperr.KindOf(err); kind != apperr.Unavailable {
		t.Fatalf("InsertMany with MySQL unreachable: kind %v, error %v; want Unavailable", kind, err)
	}
}

// Jobs whose params add up to more than one statement may carry are written in several
// statements of one transaction: when one of them fails, none of the jobs is stored.
func TestInsertManyOverSeveralStatementsIsOneTransaction(t *testing.T) {
	t.Parallel()
	dsn, jobs := openJobs(t, 2)
	ctx := context.Background()
	newJobs := func(tenant string) []*model.Jobs {
		batch := make([]*model.Jobs, 18) // of 1 MiB params each: over max_allowed_packet (16 MiB) in one statement
		for i := range batch {
			batch[i] = &model.Jobs{Id: uuid.NewString(), TenantId: tenant, FunctionId: "echo", Status: string(model.StatusPending),
				Params: `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`, CreatedAt: time.Now().UTC(),
				IdempotencyKey: sql.NullString{String: fmt.Sprint("k", i), Valid: true}}
		}
		return batch
	}
	// The last row (rows go in tenant order) breaks chk_finished_terminal: the statement
	// holding it fails after the first has run.
	bad := newJobs("t1")
	bad[len(bad)-1].TenantId = "t2"
	bad[len(bad)-1].FinishedAt = sql.NullTime{Time: time.Now().UTC(), Valid: true}
	if _, err := jobs.InsertMany(ctx, bad); err == nil {
		t.Fatal("InsertMany of a job breaking chk_finished_terminal succeeded")
	}
	mysql := testutil.DB(t, dsn)
	if n := testutil.Query[int](t, mysql, "select count(*) from jobs"); n != 0 {
		t.Fatalf("%d jobs stored by a failed InsertMany, want none", n)
	}
	good := newJobs("t1")
	if _, err := jobs.InsertMany(ctx, good); err != nil {
		t.Fatalf("InsertMany of %d jobs of 1 MiB params: %v", len(good), err)
	}
	// The keys, taken now, answer with the jobs that took them.
	held, err := jobs.InsertMany(ctx, newJobs("t1"))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range held {
		if h.Id != good[i].Id {
			t.Errorf("key k%d again: job %s, want %s", i, h.Id, good[i].Id)
		}
	}
	if n := testutil.Query[int](t, mysql, "select count(*) from jobs"); n != len(good) {
		t.Errorf("%d jobs stored, want %d", n, len(good))
	}
}

// pruneBeforeReadBack runs prune once, just before InsertMany reads back who holds its keys:
// retention deleting, between the INSERT and that read, the finished job a key's retry met.
type pruneBeforeReadBack struct {
	sqlx.SqlConn
	once  sync.Once
	prune func()
}

func (c *pruneBeforeReadBack) QueryRowsCtx(ctx context.Context, v any, query string, args ...any) error {
	if strings.Contains(query, "`idempotency_key` in") {
		c.once.Do(c.prune)
	}
	return c.SqlConn.QueryRowsCtx(ctx, v, query, args...)
}

// A retry of a start whose key is held by a job retention deletes at that moment answers a
// job that exists: the old one (read before its delete) or a new one started for the freed
// key; never the new job's id, unstored, which a read then found to be a 404.
func TestAKeyWhoseHolderIsPrunedMeanwhileStartsAStoredJob(t *testing.T) {
	t.Parallel()
	db, conn, err := model.Open(testutil.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	jobs := model.NewJobsModel(conn)
	key := sql.NullString{String: "nightly", Valid: true}
	old := &model.Jobs{Id: uuid.NewString(), TenantId: "t1", IdempotencyKey: key, FunctionId: "echo",
		Status: string(model.StatusCompleted), Params: "{}", CreatedAt: time.Now().Add(-2 * time.Hour).UTC(),
		FinishedAt: sql.NullTime{Time: time.Now().Add(-time.Hour).UTC(), Valid: true}}
	if _, err := jobs.InsertMany(ctx, []*model.Jobs{old}); err != nil {
		t.Fatal(err)
	}
	racing := model.NewJobsModel(&pruneBeforeReadBack{SqlConn: conn, prune: func() {
		if pruned, err := jobs.PruneFinished(ctx, model.StatusCompleted, time.Minute, 10); err != nil || len(pruned) != 1 {
			t.Errorf("prune: %v, %v; want the old job deleted", pruned, err)
		}
	}})
	retry := &model.Jobs{Id: uuid.NewString(), TenantId: "t1", IdempotencyKey: key, FunctionId: "echo",
		Status: string(model.StatusPending), Params: "{}", CreatedAt: time.Now().UTC()}
	held, err := racing.InsertMany(ctx, []*model.Jobs{retry})
	if err != nil {
		t.Fatalf("retry of the key while its job is pruned: %v", err)
	}
	if _, err := jobs.FindForTenant(ctx, "t1", held[0].Id); err != nil {
		t.Fatalf("retry of the key while its job is pruned answered job %s (new: %v), which is not stored: %v",
			held[0].Id, held[0].Id == retry.Id, err)
	}
}

// Retries of starts whose keys are held by finished jobs that retention is deleting at that
// moment: their INSERTs and the prune's DELETEs lock the same rows in different orders, and
// InnoDB breaks the deadlocks by rolling one back. Either it picks is tried again: every
// retry is answered with a stored job, not an error (a 500), and the pruning goes on.
func TestRetriesOfKeysBeingPrunedAreAnswered(t *testing.T) {
	t.Parallel()
	_, jobs := openJobs(t, 8)
	ctx := context.Background()
	const starts, keys = 6, 50
	newJob := func(key string, status model.Status, age time.Duration) *model.Jobs {
		job := &model.Jobs{Id: uuid.NewString(), TenantId: "t1", IdempotencyKey: sql.NullString{String: key, Valid: true},
			FunctionId: "echo", Status: string(status), Params: "{}", CreatedAt: time.Now().Add(-age).UTC()}
		if status.Terminal() {
			job.FinishedAt = sql.NullTime{Time: job.CreatedAt, Valid: true}
		}
		return job
	}
	for round := range 5 {
		old := make([]*model.Jobs, 0, starts*keys)
		for i := range starts * keys {
			old = append(old, newJob(fmt.Sprint(round, "-", i), model.StatusCompleted, time.Hour))
		}
		if _, err := jobs.InsertMany(ctx, old); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				pruned, err := jobs.PruneFinished(ctx, model.StatusCompleted, time.Minute, 50)
				if err != nil {
					t.Errorf("round %d: prune beside retries of its jobs' keys: %v", round, err)
				}
				if err != nil || len(pruned) == 0 {
					return
				}
			}
		})
		for s := range starts {
			wg.Go(func() {
				retries := make([]*model.Jobs, keys)
				for i := range retries {
					retries[i] = newJob(fmt.Sprint(round, "-", s*keys+i), model.StatusPending, 0)
				}
				held, err := jobs.InsertMany(ctx, retries)
				if err != nil {
					t.Errorf("round %d: %d retries of keys being pruned: %v", round, keys, err)
					return
				}
				for _, h := range held {
					if h.State() == model.StatusPending {
						if _, err := jobs.FindForTenant(ctx, "t1", h.Id); err != nil {
							t.Errorf("round %d: new job %s answered but not stored: %v", round, h.Id, err)
						}
					}
				}
			})
		}
		wg.Wait()
	}
}
