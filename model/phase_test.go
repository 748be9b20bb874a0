package model_test

import (
	"context"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/testutil"
	"jobs/model"
)

// Migration 0010 gives every existing job its phase, and the listing finds each status by it.
func TestPhaseMigrationMovesExistingJobs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testutil.NewEmptyDB(t)
	if err := model.MigrateUpTo(ctx, dsn, 9); err != nil {
		t.Fatal(err)
	}
	db := testutil.DB(t, dsn)
	statuses := []model.Status{model.StatusPending, model.StatusRunning, model.StatusCompleted, model.StatusFailed, model.StatusCancelled}
	for _, status := range statuses {
		finished := "NULL"
		if status.Terminal() {
			finished = "now(3)"
		}
		if _, err := db.Exec("INSERT INTO `jobs` (`id`, `tenant_id`, `function_id`, `status`, `params`, `error`, `created_at`, `finished_at`) "+
			"VALUES (?, 't', 'f', ?, '{}', '', now(3), "+finished+")", "job-"+string(status), string(status)); err != nil {
			t.Fatal(err)
		}
	}
	if err := model.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	jobs := model.NewJobsModel(sqlx.NewMysql(dsn))
	for _, status := range statuses {
		want := string(status)
		if !status.Terminal() {
			want = "active"
		}
		var phase string
		if err := db.QueryRow("SELECT `phase` FROM `jobs` WHERE `id` = ?", "job-"+string(status)).Scan(&phase); err != nil {
			t.Fatal(err)
		}
		if phase != want {
			t.Errorf("job %s: phase %q, want %q", status, phase, want)
		}
		for _, f := range []model.JobFilter{{Tenant: "t", Status: status, Page: 1, Size: 20}, {Tenant: "t", Status: status, FunctionId: "f", Page: 1, Size: 20}} {
			listed, err := jobs.List(ctx, f, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != 1 || listed[0].Id != "job-"+string(status) {
				t.Errorf("list status %s, function %q: got %d jobs, want job-%s alone", f.Status, f.FunctionId, len(listed), status)
			}
		}
	}
}
