package model_test

import (
	"database/sql"
	"os"
	"sort"
	"strings"
	"testing"

	"jobs/internal/testutil"
)

// schema.sql is what goctl generates the model from; the migrations are what databases run.
// They must describe the same table.
func TestSchemaFileMatchesMigrations(t *testing.T) {
	t.Parallel()
	migrated := testutil.DB(t, testutil.NewDB(t))

	body, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	fresh := testutil.DB(t, testutil.NewEmptyDB(t))
	if _, err := fresh.Exec(string(body)); err != nil {
		t.Fatalf("apply schema.sql: %v", err)
	}

	want, got := tableLines(t, migrated), tableLines(t, fresh)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("schema.sql differs from the migrated table\nmigrations:\n%s\n\nschema.sql:\n%s",
			strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// tableLines is SHOW CREATE TABLE jobs as a sorted list of lines without trailing commas:
// the order of indexes depends on how they were added, not on what they are.
func tableLines(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var name, ddl string
	if err := db.QueryRow("SHOW CREATE TABLE `jobs`").Scan(&name, &ddl); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(ddl, "\n") {
		lines = append(lines, strings.TrimSuffix(strings.TrimSpace(l), ","))
	}
	sort.Strings(lines)
	return lines
}
