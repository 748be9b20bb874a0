package model

import "time"

// MigrateUpTo applies the migrations up to a version, for tests of the one after it.
var MigrateUpTo = migrate

// ClaimStatement is Claim's UPDATE of ids for owner and its arguments, for a test to hold it
// open in a transaction of its own.
func ClaimStatement(jobs JobsModel, ids []string, owner string) (string, []any) {
	return jobs.(*customJobsModel).claimStatement(len(ids)), claimArgs(ids, owner, "held-claim", time.Minute)
}

// MigrationVersions lists the versions of the embedded migrations in the order they apply.
func MigrationVersions() ([]int, error) {
	list, err := embeddedMigrations()
	versions := make([]int, len(list))
	for i, m := range list {
		versions[i] = m.version
	}
	return versions, err
}
