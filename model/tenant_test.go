package model_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/testutil"
	"jobs/model"
)

// Tenants and idempotency keys compare byte for byte: a trailing space makes another
// tenant and another key (utf8mb4_bin, a PAD SPACE collation, ignored it).
func TestTenantsAndKeysCompareByteForByte(t *testing.T) {
	t.Parallel()
	db, conn, err := model.Open(testutil.NewDB(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	jobs := model.NewJobsModel(conn)
	ctx := context.Background()
	insert := func(tenant, key string) *model.Jobs {
		job := &model.Jobs{Id: uuid.NewString(), TenantId: tenant, FunctionId: "echo", Status: string(model.StatusPending),
			Params: "{}", CreatedAt: time.Now().UTC(), IdempotencyKey: sql.NullString{String: key, Valid: true}}
		if _, err := jobs.Insert(ctx, job); err != nil {
			t.Fatalf("insert tenant %q key %q: %v", tenant, key, err)
		}
		return job
	}
	job := insert("t1", "k")
	if _, err := jobs.FindForTenant(ctx, "t1 ", job.Id); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("tenant \"t1 \" finds tenant t1's job: %v", err)
	}
	if got, err := jobs.FindForTenant(ctx, "t1", job.Id); err != nil || got.Id != job.Id {
		t.Errorf("tenant t1 reading its own job: %v", err)
	}
	if got, err := jobs.FindAnyTenant(ctx, job.Id); err != nil || got.TenantId != "t1" {
		t.Errorf("reading job %s across tenants: %v", job.Id, err)
	}
	if n, _, err := jobs.Count(ctx, model.JobFilter{Tenant: "t1 "}, 10); err != nil || n != 0 {
		t.Errorf("tenant \"t1 \" counts %d of tenant t1's jobs (%v)", n, err)
	}
	insert("t1", "k ") // another key
	insert("t1 ", "k") // another tenant
}
