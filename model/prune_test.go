package model_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/testutil"
	"jobs/model"
)

// A batch of retention deletes its own rows and locks no other: a running job whose row a
// worker's write holds does not hold up the pruning, nor (the other way round) does the
// pruning lock the rows of the jobs being started, claimed and finished. When a batch was
// most of the table, MariaDB read the whole table for the DELETE and locked every row.
func TestPruneLocksOnlyTheJobsItDeletes(t *testing.T) {
	t.Parallel()
	dsn, jobs := openJobs(t, 4)
	ctx := context.Background()
	hourAgo := time.Now().Add(-time.Hour).UTC()
	batch := make([]*model.Jobs, 0, 601)
	for range 600 {
		batch = append(batch, &model.Jobs{Id: uuid.NewString(), TenantId: "t1", FunctionId: "echo", Params: "{}",
			Status: string(model.StatusCompleted), CreatedAt: hourAgo, FinishedAt: sql.NullTime{Time: hourAgo, Valid: true}})
	}
	running := &model.Jobs{Id: uuid.NewString(), TenantId: "t1", FunctionId: "echo", Params: "{}",
		Status: string(model.StatusRunning), CreatedAt: time.Now().UTC()}
	if _, err := jobs.InsertMany(ctx, append(batch, running)); err != nil {
		t.Fatal(err)
	}
	testutil.LockJob(t, testutil.DB(t, dsn), running.Id)
	pruneCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	pruned, err := jobs.PruneFinished(pruneCtx, model.StatusCompleted, time.Minute, 500)
	if err != nil || len(pruned) != 500 {
		t.Fatalf("prune beside a running job whose row is locked: %d jobs deleted, %v; want 500 at once", len(pruned), err)
	}
}
