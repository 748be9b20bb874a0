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

// A claim locks only the jobs it names. With a few pending jobs among many finished ones,
// MariaDB would rather claim through the status index, whose next-key locks cover every
// pending job's entry and the gap after them: the INSERT of a new job waited for the claim's
// commit and could deadlock with it. A claim held open must not hold up a start.
func TestAnOpenClaimDoesNotHoldUpStarts(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	f := testutil.NewFactory(t, store)
	now := time.Now().UTC().Truncate(time.Millisecond)
	job := func(status model.Status) *model.Jobs {
		j := &model.Jobs{Id: uuid.Must(uuid.NewV7()).String(), TenantId: testutil.FactoryTenant, FunctionId: "echo",
			Status: string(status), Params: "{}", MaxAttempts: 1, CreatedAt: now}
		if status.Terminal() {
			j.FinishedAt = sql.NullTime{Time: now, Valid: true}
		} else {
			j.EnqueuedAt = sql.NullTime{Time: now, Valid: true}
		}
		return j
	}
	finished := make([]*model.Jobs, 2000)
	for i := range finished {
		finished[i] = job(model.StatusCompleted)
	}
	if _, err := store.Jobs.InsertMany(context.Background(), finished); err != nil {
		t.Fatal(err)
	}
	var claimed []string
	for range 3 {
		claimed = append(claimed, f.Pending().Id)
	}
	testutil.Exec(t, store.DB, "analyze table `jobs`") // statistics as a live table has them

	tx, err := store.DB.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	query, args := model.ClaimStatement(store.Jobs, claimed, "w1")
	if res, err := tx.Exec(query, args...); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 3 {
		t.Fatalf("the held claim moved %d jobs, want 3", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := store.Jobs.InsertMany(ctx, []*model.Jobs{job(model.StatusPending)}); err != nil {
		t.Fatalf("a start waited on a claim that is still open: %v", err)
	}
}
