package model_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"jobs/internal/testutil"
	"jobs/model"
)

// A process stopped while it migrates (a startup probe's limit, an OOM kill, the force-quit
// after SIGTERM) does not stop MariaDB: the ALTER it sent finishes, and the version is never
// recorded. The next start runs that migration again on a table that already has it, and must
// come up with the same table.
func TestAMigrationAppliedButNotRecordedRunsAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testutil.NewEmptyDB(t)
	db := testutil.DB(t, dsn)
	versions, err := model.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if err := model.MigrateUpTo(ctx, dsn, v); err != nil {
			t.Fatalf("migrate to %d: %v", v, err)
		}
		want := tableLines(t, db)
		if _, err := db.Exec("DELETE FROM `schema_migrations` WHERE `version` = ?", v); err != nil {
			t.Fatal(err)
		}
		if err := model.MigrateUpTo(ctx, dsn, v); err != nil {
			t.Fatalf("migration %d applied but not recorded, run again: %v", v, err)
		}
		if got := tableLines(t, db); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("migration %d run twice left\n%s\nwant\n%s", v, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
