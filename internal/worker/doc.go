// Package worker runs jobs: it reads job ids from the Redis stream, claims the jobs in
// MySQL, runs their functions on a bounded pool, keeps their leases alive, writes their
// progress and outcomes, and hands unfinished jobs back on shutdown.
//
// # Life of a job
//
//	          claim: pending→running, attempt+1, lease
//	pending ─────────────────────────────────────────▶ running ──▶ completed (returned a result)
//	   │    ◀─────────────────────────────────────────    │  └───▶ failed (error, no attempts left)
//	   │      error with attempts left (run_at = now +    │
//	   │      backoff), lease expired, handed back; or    │
//	   │      function not here (attempt-1, run_at = now  │
//	   │      + 5 s; failed after UnknownFunctionGrace)   │
//	   └──── cancel ──▶ cancelled ◀──── cancel ───────────┘
//
// Every arrow is an UPDATE whose WHERE clause names the status it leaves (and, for a
// worker's outcome or a reap out of running, the attempt; a cancel stops the job whatever
// its attempt), so a duplicate delivery, a late worker or a race with cancel changes
// nothing: the loser's UPDATE matches no row and its result is discarded. Every
// arrow into a terminal status also schedules the job's callback (internal/callbacks).
//
// # Failure
//
// A stream entry is acked only after its claim commits. If the reader dies before that,
// the entry stays in the consumer group and another worker takes it with XAUTOCLAIM after
// WorkerConf.ClaimIdle. If a worker dies while running jobs, their leases stop being
// extended and the recovery sweep returns them to pending (or fails them with "worker
// lost" when no attempts are left). A cancel is signalled over Redis pub/sub; if that
// message is lost, the next heartbeat finds the job no longer running and stops it.
package worker
