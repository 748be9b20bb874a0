package model_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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
	dsn := testutil.NewDB(t)
	db, conn, err := model.Open(dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	jobs := model.NewJobsModel(conn)
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
