package model

import "time"

// MigrateUpTo applies the migrations up to a version, for tests of the one after it.
var MigrateUpTo = migrate

// ClaimStatement is Claim's UPDATE of ids for owner and its arguments, for a test to hold it
// open in a transaction of its own.
func ClaimStatement(jobs JobsModel, ids []string, owner string) (string, []any) {
	return jobs.(*customJobsModel).claimStatement(len(ids)), claimArgs(ids, owner, "held-claim", time.Minute)
}
