package main

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// result is one scenario's outcome: the numbers of its summary line, and why it failed.
type result struct {
	name     string
	acked    int
	lost     int
	runTwice int
	recovery time.Duration
	took     time.Duration
	refused  string   // answers that did not acknowledge a start
	notes    []string // what happened, for the reader
	failures []string // why the scenario failed; empty when it passed
}

func (r *result) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *result) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// jobRow is what MySQL says of one job at the end of a scenario.
type jobRow struct {
	id, key, status, err string
	attempt              int
	finishedAt           sql.NullTime
}

// waitDone waits until n jobs are terminal, polling MySQL (and riding out its outages),
// until deadline.
func (e *env) waitDone(ctx context.Context, n int, deadline time.Time) error {
	for {
		var done int
		err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE status IN ('completed', 'failed', 'cancelled')").Scan(&done)
		if err == nil && done >= n {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d jobs finished in time (%s)", done, n, e.statusCounts(ctx))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// statusCounts is how many jobs are in each status, for a failure message.
func (e *env) statusCounts(ctx context.Context) string {
	rows, err := e.db.QueryContext(ctx, "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return err.Error()
		}
		parts = append(parts, fmt.Sprintf("%s %d", status, n))
	}
	return strings.Join(parts, ", ")
}

// jobs reads every job of the scenario's database, by id.
func (e *env) jobs(ctx context.Context) (map[string]jobRow, error) {
	rows, err := e.db.QueryContext(ctx, "SELECT id, COALESCE(idempotency_key, ''), status, error, attempt, finished_at FROM jobs")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]jobRow{}
	for rows.Next() {
		var j jobRow
		if err := rows.Scan(&j.id, &j.key, &j.status, &j.err, &j.attempt, &j.finishedAt); err != nil {
			return nil, err
		}
		out[j.id] = j
	}
	return out, rows.Err()
}

// check compares what was acknowledged with what MySQL holds and what ran. A job is lost
// if it is missing from MySQL or not finished; one that failed or was cancelled, a row no
// acknowledgement names (a duplicate start), and a job completed without any execution
// that ran to its end fail the scenario too. runs counts executions where the recorder saw
// them; with nil runs (jobs of a built-in function) MySQL's attempt counts them.
func (e *env) check(ctx context.Context, acks []ack, runs map[string]runCount, r *result) map[string]jobRow {
	r.acked = len(acks)
	var rows map[string]jobRow
	var err error
	for try := 0; try < 20; try++ { // MySQL may be settling after a restart
		if rows, err = e.jobs(ctx); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		r.fail("reading the jobs from MySQL: %v", err)
		r.lost = len(acks)
		return nil
	}
	var lost, failed, neverRan []string
	acked := map[string]bool{}
	for _, a := range acks {
		acked[a.id] = true
		j, ok := rows[a.id]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("%s (key %s) is missing from MySQL", a.id, a.key))
			continue
		case j.status == "pending" || j.status == "running":
			lost = append(lost, fmt.Sprintf("%s (key %s) is still %s after %d attempts, error %q", a.id, a.key, j.status, j.attempt, j.err))
		case j.status != "completed":
			failed = append(failed, fmt.Sprintf("%s ended %s: %q", a.id, j.status, j.err))
		}
		if runs == nil {
			if j.attempt > 1 {
				r.runTwice++
			}
			continue
		}
		if runs[a.id].calls > 1 {
			r.runTwice++
		}
		if j.status == "completed" && runs[a.id].answered == 0 {
			neverRan = append(neverRan, fmt.Sprintf("%s is completed, but no execution of it ran to the end (%d began)", a.id, runs[a.id].calls))
		}
	}
	var duplicates []string
	for id, j := range rows {
		if !acked[id] {
			duplicates = append(duplicates, fmt.Sprintf("%s (key %q) was never acknowledged", id, j.key))
		}
	}
	r.lost = len(lost)
	for _, problem := range []struct {
		what string
		jobs []string
	}{{"acknowledged jobs lost", lost}, {"jobs did not complete", failed},
		{"jobs in MySQL that no start acknowledged (duplicate starts)", duplicates},
		{"jobs completed without running", neverRan}} {
		if len(problem.jobs) > 0 {
			r.fail("%d %s, e.g.\n      %s", len(problem.jobs), problem.what, strings.Join(firstFew(problem.jobs, 5), "\n      "))
		}
	}
	return rows
}

// firstFew returns up to n of items, sorted, so failure messages stay short and stable.
func firstFew(items []string, n int) []string {
	sort.Strings(items)
	return items[:min(n, len(items))]
}

// lastFinished is the latest finished_at among ids, and whether all of them finished.
func lastFinished(rows map[string]jobRow, ids []string) (time.Time, bool) {
	var last time.Time
	for _, id := range ids {
		j, ok := rows[id]
		if !ok || !j.finishedAt.Valid {
			return last, false
		}
		if j.finishedAt.Time.After(last) {
			last = j.finishedAt.Time
		}
	}
	return last, true
}

// recoveryAfter measures a fault from faultAt, the service restored at restoredAt: the
// time until every job acknowledged before the restoration had finished and the first job
// acknowledged after it had finished too (work flows again). It also counts the jobs at
// risk: acknowledged before the fault, unfinished at it.
func recoveryAfter(rows map[string]jobRow, acks []ack, faultAt, restoredAt time.Time) (_ time.Duration, atRisk int, ok bool) {
	var before []string
	var firstAfter time.Time
	for _, a := range acks {
		if !a.at.After(restoredAt) {
			before = append(before, a.id)
			if j := rows[a.id]; !a.at.After(faultAt) && (!j.finishedAt.Valid || j.finishedAt.Time.After(faultAt)) {
				atRisk++
			}
			continue
		}
		if j, ok := rows[a.id]; ok && j.finishedAt.Valid && (firstAfter.IsZero() || j.finishedAt.Time.Before(firstAfter)) {
			firstAfter = j.finishedAt.Time
		}
	}
	last, ok := lastFinished(rows, before)
	if !ok {
		return 0, atRisk, false
	}
	if firstAfter.After(last) {
		last = firstAfter
	}
	return max(last.Sub(faultAt), 0), atRisk, true
}
