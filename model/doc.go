// Package model is the jobs table, the source of truth for every job: goctl's generated
// row type and reads, plus the guarded statements of a job's life (jobsmodel.go), the
// migrations that build the table, and typed MySQL outages (conn.go).
//
// # Life of a job
//
// A job's status is a Status; Finish moves a running job by its Outcome's OutcomeKind.
//
//	InsertMany
//	    │
//	    ▼                  Claim: due, attempt+1, lease
//	StatusPending ─────────────────────────────────────────────▶ StatusRunning
//	  │    ◀──── Finish OutcomeRetry (run_at ahead, unenqueued) ───  │
//	  │    ◀──── Finish OutcomeHandBack (enqueued at once) ────────  │
//	  │    ◀──── Finish OutcomeUnregistered (attempt-1, run_at) ───  │
//	  │    ◀──── Reap: lease expired, attempts left ─────────────────│
//	  │                                                              │
//	  └─ Cancel ─▶ StatusCancelled ◀──────── Cancel, CancelMany ─────┤
//	               StatusCompleted ◀──────── Finish OutcomeCompleted ┤
//	                  StatusFailed ◀── Finish OutcomeFailed, ────────┘
//	                                   Reap (out of attempts)
//
// (CancelMany cancels pending jobs too.) ExtendLeases (a heartbeat) and SaveProgress
// (progress and output lines) change a running job without moving it. Every arrow is one
// statement whose WHERE clause names the status it leaves, and from running the attempt
// (Finish, SaveProgress) or owner (ExtendLeases) or expired lease (Reap): a second
// finish, a cancel after a finish, a late outcome or heartbeat of a reaped attempt match no
// row and report that they lost (an OutcomeUnregistered, which gives its attempt back, also
// names its claim's token, as that attempt number comes round again); only a retry of Claim, Finish or Reap with its own token
// (the first try's reply was lost) reports what that first try won. Terminal statuses
// (Status.Terminal) have no way out. Every arrow into a terminal status sets callback_due_at
// in the same statement, so a job with a callback URL never ends without its delivery
// scheduled.
//
// # Reads by id
//
// JobsModel reads a job by id in a tenant (FindForTenant), so a route cannot read another
// tenant's job by accident; FindAnyTenant, which ignores the tenant, is an admin's read
// (jobquery.Find chooses) and the tests'. goctl's FindOne, Update and Delete are not on
// JobsModel.
//
// # Callback delivery
//
//	pending ──ClaimCallbacks (due → leased, fresh token)──▶ in flight
//	in flight ──FinishCallback(token, Delivered / GivenUp)──▶ done (delivered / failed)
//	in flight ──FinishCallback(token, RetryLater, retryIn)──▶ pending (due later)
//	in flight ──FinishCallback(token, Released)──▶ pending (due now, the attempt not counted)
//
// A delivery whose deliverer died is due again when its lease runs out; one whose deliverer
// stopped is released at once; a FinishCallback with a spent token loses.
//
// The tests of every transition and its loser are in transitions_test.go, on a real
// database with testutil.Factory making jobs in each state.
package model
