// Package model is the jobs table, the source of truth for every job: goctl's generated
// row type and reads, plus the guarded statements of a job's life (jobsmodel.go), the
// migrations that build the table, and typed MySQL outages (conn.go).
//
// # Life of a job
//
//	InsertOnce
//	    │
//	    ▼             Claim: due, attempt+1, lease
//	 pending ───────────────────────────────────────▶ running
//	  │    ◀──── Finish: retry (run_at ahead) ─────────  │
//	  │    ◀──── Finish: hand-back (enqueued) ─────────  │
//	  │    ◀──── ReapExpired: lease expired, retries left │
//	  │                                                  │
//	  └─ Cancel ─▶ cancelled ◀──────── Cancel ───────────┤
//	               completed ◀──────── Finish ───────────┤
//	                  failed ◀── Finish, ReapExpired ────┘
//
// ExtendLeases (a heartbeat) and SaveProgress (progress and output lines) change a running
// job without moving it. Every arrow is one statement whose WHERE clause names the status it
// leaves, and from running the attempt (Finish, SaveProgress) or owner (ExtendLeases) or
// expired lease (ReapExpired): a second finish, a cancel after a finish, a late outcome or
// heartbeat of a reaped attempt match no row and report that they lost. Terminal statuses
// have no way out. Every arrow into a terminal status sets callback_due_at in the same
// statement, so a job with a callback URL never ends without its delivery scheduled.
//
// # Callback delivery
//
//	pending ──ClaimCallbacks (due → leased, fresh token)──▶ in flight
//	in flight ──FinishCallback(token): delivered / failed──▶ done
//	in flight ──FinishCallback(token): pending, retryIn──▶ pending (due later)
//
// A delivery whose deliverer died is due again when its lease runs out; a FinishCallback
// with a spent token loses.
//
// The tests of every transition and its loser are in transitions_test.go, on a real
// database with testutil.Factory making jobs in each state.
package model
