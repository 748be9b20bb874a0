package model

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/batcher"
)

// Status is a job's status (the status column). Completed, failed and cancelled are
// terminal: every transition below is a compare-and-set whose WHERE clause names the status
// it leaves, so no transition can start from a terminal job.
type Status string

// The five statuses of a job.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// ErrorWorkerLost is the error of a job whose worker stopped heartbeating.
const ErrorWorkerLost = "worker lost"

// Terminal reports whether s is final.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Valid reports whether s is one of the five statuses.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusRunning || s.Terminal()
}

// State is the job's status, typed (goctl generates the column as a string).
func (j *Jobs) State() Status {
	return Status(j.Status)
}

var _ JobsModel = (*customJobsModel)(nil)

type (
	// JobsModel is the jobs table: goctl's insert and keyed read plus the guarded transitions
	// of a job's life. goctl's Update and Delete are left out: they write a row whatever its
	// status, and every change of a job is a compare-and-set below. goctl's FindOne, which
	// reads a job whatever its tenant, is left out too: a read by id names the tenant
	// (FindForTenant) or says that it reads across tenants (FindAnyTenant).
	JobsModel interface {
		Insert(ctx context.Context, data *Jobs) (sql.Result, error)
		FindOneByTenantIdIdempotencyKey(ctx context.Context, tenantId string, idempotencyKey sql.NullString) (*Jobs, error)
		// InsertMany inserts jobs in one transaction, in as many statements as their size
		// needs (batcher.MaxStatementBytes each), leaving out each job whose idempotency key
		// its tenant has used already, and returns what holds each job's place: the job
		// itself, or the one its key started first. The keys of jobs must differ from one
		// another.
		InsertMany(ctx context.Context, jobs []*Jobs) ([]*Jobs, error)
		// FindForTenant returns job id if it belongs to tenant, ErrNotFound otherwise.
		FindForTenant(ctx context.Context, tenant, id string) (*Jobs, error)
		// FindAnyTenant returns job id whatever its tenant: an admin's read (jobquery.Find
		// decides), and the reads of tests. A route reading for a caller uses FindForTenant.
		FindAnyTenant(ctx context.Context, id string) (*Jobs, error)
		// Ended returns those of ids whose jobs are terminal.
		Ended(ctx context.Context, ids []string) ([]string, error)
		// List returns one page of jobs matching f, newest first; results only withResult.
		List(ctx context.Context, f JobFilter, withResult bool) ([]*Jobs, error)
		// Count returns how many jobs match f across all pages, counting at most upTo: exact
		// is false when more match, and the count is then upTo.
		Count(ctx context.Context, f JobFilter, upTo int64) (n int64, exact bool, err error)
		// Claim moves the pending, due jobs among ids to running for owner (attempt+1, a lease
		// of lease from now, no output lines yet) and returns those it won, with the columns a
		// worker needs (claimedColumns; result, output lines, callback and list-only fields
		// are left empty). Ids that are not pending, or whose run_at is still ahead, are skipped.
		// token names the claim: called again with the same token (a retry of a claim whose
		// reply was lost), it also returns the jobs the earlier call won that are still running
		// under it, so a claim that committed unseen is not left to its lease's expiry.
		Claim(ctx context.Context, ids []string, owner, token string, lease time.Duration) ([]*Jobs, error)
		// ExtendLeases renews owner's leases on its running jobs among ids and returns the
		// attempt of each job still running under owner.
		ExtendLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (map[string]int64, error)
		// Finish applies outcomes in one transaction; won[i] says whether outcome i still
		// found its attempt running (a cancel or a reap may have got there first). token names
		// the write: called again with the same token (a retry of a write whose reply was
		// lost), an outcome the earlier call applied is reported won again, so the caller
		// still announces it.
		Finish(ctx context.Context, token string, outcomes []Outcome) (won []bool, err error)
		// SaveProgress writes the latest progress (and output lines, where given) of running
		// attempts in one transaction.
		SaveProgress(ctx context.Context, progress []Progress) error
		// Cancel moves job id from status from to cancelled.
		Cancel(ctx context.Context, id string, from Status) (bool, error)
		// CancelMany moves the pending and running jobs among ids to cancelled, one
		// compare-and-set each, and returns those it moved with the status each left.
		CancelMany(ctx context.Context, ids []string) ([]Cancelled, error)
		// PruneFinished deletes up to limit jobs of the terminal status that finished more
		// than age ago and have no callback delivery pending, oldest first, and returns their ids.
		PruneFinished(ctx context.Context, status Status, age time.Duration, limit int) ([]string, error)
		// ExpiredLeases returns up to limit running jobs whose lease has expired, longest
		// expired first.
		ExpiredLeases(ctx context.Context, limit int) ([]Expired, error)
		// Reap moves each of expired whose lease is still expired, at its attempt, back to
		// pending (attempts left) or to failed, with ErrorWorkerLost, and marks the rows it
		// moves with token. It reports the jobs among expired that carry token: moved now, or
		// by an earlier Reap with that token whose reply was lost. A Reap that fails reports
		// none; its retry with the token reports every job it moved.
		Reap(ctx context.Context, token string, expired []Expired) ([]Reaped, error)
		// Unenqueued returns up to limit pending jobs that are due (run_at unset or passed)
		// and not known to be on the stream: those without run_at first, oldest first, then
		// the others by run_at.
		Unenqueued(ctx context.Context, limit int) ([]string, error)
		// MarkEnqueued records that the due pending jobs among ids were just put on the
		// stream; one not due (a retry written since they were chosen) stays unenqueued.
		MarkEnqueued(ctx context.Context, ids []string) error
		// MarkUnenqueued records that pending jobs among ids may not be on the stream.
		MarkUnenqueued(ctx context.Context, ids []string) error
		// EnqueuedIDs returns the ids of every pending job recorded as enqueued.
		EnqueuedIDs(ctx context.Context) ([]string, error)
		// StaleEnqueued returns up to limit pending jobs marked enqueued more than stale ago,
		// oldest mark first.
		StaleEnqueued(ctx context.Context, stale time.Duration, limit int) ([]string, error)
		// UnmarkStale records that the pending jobs among ids whose enqueue mark is still
		// older than stale were not found on the stream: their mark is cleared.
		UnmarkStale(ctx context.Context, ids []string, stale time.Duration) error
		// ClaimCallbacks claims up to limit due callback deliveries for lease: their
		// callback_due_at moves lease ahead (so a deliverer that dies frees them then) and
		// they get a fresh callback_token, which FinishCallback must present.
		ClaimCallbacks(ctx context.Context, limit int, lease time.Duration) ([]*Jobs, error)
		// FinishCallback records a delivery attempt of the claim token: Delivered or GivenUp
		// ends the delivery; RetryLater schedules the next attempt retryIn from now; Released
		// makes it due again now without counting the attempt.
		FinishCallback(ctx context.Context, id, token string, result DeliveryResult, errMsg string, retryIn time.Duration) (bool, error)
	}

	customJobsModel struct {
		*defaultJobsModel
	}

	// JobFilter selects jobs for List and Count. Tenant is required unless AllTenants (an
	// operator's list); other empty fields do not filter.
	JobFilter struct {
		Tenant                               string
		AllTenants                           bool
		Status                               Status
		FunctionId, Actor, GameId, Env, Name string
		// ScheduleId selects the jobs a schedule started.
		ScheduleId string
		// Statuses, if any and Status is empty, restricts the jobs to these statuses.
		Statuses []Status
		// Ids, if any, restricts the jobs to these ids.
		Ids []string
		// CreatedFrom (inclusive) and CreatedTo (exclusive) bound created_at when not zero.
		CreatedFrom, CreatedTo time.Time
		// Ascending lists oldest first; the default is newest first.
		Ascending  bool
		Page, Size int64
	}

	// Outcome is how one attempt ended (Kind) and what it leaves on the job. RetryDelay is
	// the wait of an OutcomeRetry or an OutcomeUnregistered. Claim, the token of the claim
	// that won the attempt, is compared by an OutcomeUnregistered only.
	Outcome struct {
		Id         string
		Attempt    int64
		Kind       OutcomeKind
		Claim      string
		Result     sql.NullString
		Error      string
		Progress   Progress
		RetryDelay time.Duration
	}

	// Cancelled is a job CancelMany cancelled, the status it was in, and its attempt and error
	// (which the cancel keeps) as they were when it was cancelled.
	Cancelled struct {
		Id      string `db:"id"`
		From    Status `db:"status"`
		Attempt int64  `db:"attempt"`
		Error   string `db:"error"`
	}

	// Expired is a running job whose lease has expired (its worker is gone), for Reap.
	Expired struct {
		Id          string `db:"id"`
		TenantId    string `db:"tenant_id"`
		FunctionId  string `db:"function_id"`
		Name        string `db:"name"`
		Attempt     int64  `db:"attempt"`
		MaxAttempts int64  `db:"max_attempts"`
	}

	// Reaped is a job moved by Reap: to pending or failed.
	Reaped struct {
		Id         string
		TenantId   string
		FunctionId string
		Name       string
		Attempt    int64
		Status     Status
	}

	// Progress is the latest progress report of one attempt, with its last output lines.
	Progress struct {
		Id       string
		Attempt  int64
		Progress int64
		Total    int64
		Message  string
		// LogTail is the attempt's last output lines (JSON). NULL: it logged nothing (in an
		// Outcome) or nothing new (SaveProgress keeps what is stored).
		LogTail sql.NullString
	}
)

// OutcomeKind is how an attempt ended, and so where Finish moves its job.
type OutcomeKind int

const (
	// OutcomeCompleted: the function returned a result; the job is completed.
	OutcomeCompleted OutcomeKind = iota + 1
	// OutcomeFailed: the attempt failed for good; the job is failed.
	OutcomeFailed
	// OutcomeRetry: the attempt failed with attempts left; the job is pending again with
	// run_at = now + RetryDelay and enqueued_at NULL, and the scheduler's due pass enqueues
	// it then.
	OutcomeRetry
	// OutcomeHandBack: the worker is shutting down; the job is pending again, marked
	// enqueued, and the caller enqueues it at once after the commit. The attempt stays counted.
	OutcomeHandBack
	// OutcomeUnregistered: the worker does not have the job's function (a rolling deploy
	// adding it); the job is pending again with run_at = now + RetryDelay, enqueued_at NULL
	// and unregistered_since set if it was not. The attempt is given back (attempt - 1): the
	// function never began. As the attempt then comes round again, the compare-and-set also
	// names the claim (Claim), so a late retry of this write cannot hand back a later claim
	// of the same attempt number.
	OutcomeUnregistered
)

// AttemptAfter is the job's attempt once o is written.
func (o Outcome) AttemptAfter() int64 {
	if o.Kind == OutcomeUnregistered {
		return o.Attempt - 1
	}
	return o.Attempt
}

// Status is the status an outcome of kind k leaves its job in.
func (k OutcomeKind) Status() Status {
	switch k {
	case OutcomeCompleted:
		return StatusCompleted
	case OutcomeFailed:
		return StatusFailed
	default:
		return StatusPending
	}
}

// NewJobsModel returns a model for the database table.
func NewJobsModel(conn sqlx.SqlConn) JobsModel {
	return &customJobsModel{
		defaultJobsModel: newJobsModel(conn),
	}
}

// StatusCondition is the WHERE condition (with its one argument) selecting jobs of status for
// the listing and the overview. A terminal status is its phase, which every list index
// carries. Pending and running share the phase 'active' (so that a claim, a retry and a
// hand-back leave the list indexes alone): the index (status, tenant_id, created_at) selects
// either alone, and beside another filter the phase narrows the index range to active jobs
// before their rows are read for the status.
func StatusCondition(status Status) (string, any) {
	if status.Terminal() {
		return "`phase` = ?", string(status)
	}
	return "`phase` = 'active' and `status` = ?", string(status)
}

// due holds for a job that may start now: a delayed job's run_at has passed. A stream entry
// that reaches a worker early (a duplicate, a manual enqueue) claims nothing; the job stays
// pending and unenqueued, and the scheduler enqueues it when it is due.
const due = "(`run_at` is null or `run_at` <= now(3))"

// callbackDue schedules a job's callback delivery; every transition to a terminal status
// includes it, so the delivery is scheduled in the same statement that ends the job.
const callbackDue = "`callback_due_at` = " + callbackDueAt

// callbackDueAt is when a job ending now has its callback delivered: at once, or never
// without a callback URL.
const callbackDueAt = "if(`callback_url` = '', NULL, now(3))"

// Callback delivery states (callback_status); "" means the job has no callback.
const (
	CallbackPending   = "pending"
	CallbackDelivered = "delivered"
	CallbackFailed    = "failed"
)

// DeliveryResult is how one attempt to deliver a job's callback ended.
type DeliveryResult int

const (
	// Delivered: the receiver took it; the delivery is over (callback_status delivered).
	Delivered DeliveryResult = iota + 1
	// RetryLater: it failed and is tried again after a backoff (callback_status stays pending).
	RetryLater
	// GivenUp: it failed for good, refused or out of attempts (callback_status failed).
	GivenUp
	// Released: it was cut short by the deliverer's stop before an answer came; the claim is
	// given back, due again at once, and the attempt is not counted.
	Released
)

// leaseReleased clears the fields that tie a job to a worker.
const leaseReleased = "`lease_owner` = '', `lease_token` = '', `lease_expires_at` = NULL"

// leaseReleasedTo is leaseReleased keeping the token of the write that released the lease
// (its argument): a retry of a write whose reply was lost reads back by it what it moved.
const leaseReleasedTo = "`lease_owner` = '', `lease_token` = ?, `lease_expires_at` = NULL"

// byPrimaryKey names the table for a statement that writes or locks rows it names by id
// (`id IN (…)` beside a status condition). Without the hint, when few jobs are pending MariaDB
// would rather range-scan the status index: a claim then took next-key locks on every pending
// job's entry and the gaps between them, which blocked the INSERT of new jobs behind it and
// could deadlock with it (the claim, its victim, left its entries to ClaimIdle: 15 s or more).
func (m *customJobsModel) byPrimaryKey() string { return m.table + " force index (primary)" }

// listRows is every column but result
// and log_tail, which list items leave out.
var listRows = strings.Join(removeFields(jobsFieldNames, "`result`", "`log_tail`"), ",")

func removeFields(fields []string, drop ...string) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if !slices.Contains(drop, f) {
			out = append(out, f)
		}
	}
	return out
}

// where builds the filter clause from fixed column names; values only ever travel as
// arguments. Every clause but an operator's starts with the tenant, which leads every list
// index.
func (f JobFilter) where() (string, []any) {
	conds := []string{"`tenant_id` = ?"}
	args := []any{f.Tenant}
	if f.AllTenants {
		conds, args = []string{"true"}, nil
	}
	if f.Status != "" {
		cond, arg := StatusCondition(f.Status)
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if f.Status == "" && len(f.Statuses) > 0 {
		conds = append(conds, "`status` in ("+inClause(len(f.Statuses))+")")
		for _, status := range f.Statuses {
			args = append(args, string(status))
		}
	}
	for _, c := range []struct{ column, value string }{
		{"`function_id`", f.FunctionId},
		{"`actor`", f.Actor},
		{"`game_id`", f.GameId},
		{"`env`", f.Env},
		{"`name`", f.Name},
		{"`schedule_id`", f.ScheduleId},
	} {
		if c.value != "" {
			conds = append(conds, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	if len(f.Ids) > 0 {
		conds = append(conds, "`id` in ("+inClause(len(f.Ids))+")")
		args = append(args, stringArgs(f.Ids)...)
	}
	if !f.CreatedFrom.IsZero() {
		conds = append(conds, "`created_at` >= ?")
		args = append(args, f.CreatedFrom)
	}
	if !f.CreatedTo.IsZero() {
		conds = append(conds, "`created_at` < ?")
		args = append(args, f.CreatedTo)
	}
	return " where " + strings.Join(conds, " and "), args
}

func (m *customJobsModel) InsertMany(ctx context.Context, jobs []*Jobs) ([]*Jobs, error) {
	return m.insertMany(ctx, jobs, true)
}

// insertMany is InsertMany; retryGone says whether the jobs whose key nobody holds after the
// INSERT are inserted again (once: their new holder is no finished job for retention to take).
func (m *customJobsModel) insertMany(ctx context.Context, jobs []*Jobs, retryGone bool) ([]*Jobs, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	// goctl's INSERT, captured rather than run, gives the columns and each row's arguments.
	// Rows go in key order, so concurrent INSERTs take the unique index's locks in one order
	// and cannot deadlock on each other's keys.
	sorted := slices.Clone(jobs)
	slices.SortFunc(sorted, func(a, b *Jobs) int {
		return cmp.Or(strings.Compare(a.TenantId, b.TenantId),
			strings.Compare(a.IdempotencyKey.String, b.IdempotencyKey.String), strings.Compare(a.Id, b.Id))
	})
	capture := &insertCapture{}
	gen := newJobsModel(capture)
	rowArgs := make([][]any, len(sorted))
	for i, job := range sorted {
		if _, err := gen.Insert(ctx, job); err != nil {
			return nil, err
		}
		rowArgs[i] = capture.args
	}
	// Every row's tuple of placeholders is the same.
	head, tuple, _ := strings.Cut(capture.query, " values ")
	db, err := m.conn.RawDB()
	if err != nil {
		return nil, err
	}
	// A statement carries at most batcher.MaxStatementBytes: MySQL refuses one over
	// max_allowed_packet whole. The statements of one call share a transaction, so every job
	// is stored, or none is; one statement alone is its own transaction.
	parts := batcher.Split(rowArgs, len(rowArgs), batcher.MaxStatementBytes, argsBytes)
	insert := func(ex execer, rows [][]any) error {
		var stmt strings.Builder
		stmt.Grow(len(head) + len(" values ") + len(rows)*(len(tuple)+2) + 64)
		stmt.WriteString(head)
		stmt.WriteString(" values ")
		args := make([]any, 0, len(rows)*len(rows[0]))
		for i, row := range rows {
			if i > 0 {
				stmt.WriteString(", ")
			}
			stmt.WriteString(tuple)
			args = append(args, row...)
		}
		stmt.WriteString(" on duplicate key update `id` = `id`")
		_, err := execUnformatted(ctx, ex, fmt.Sprintf("insert of %d jobs", len(rows)), stmt.String(), args...)
		return err
	}
	// A retry meeting a finished job that retention deletes at that moment locks the key and
	// the row in the other order than the DELETE: one of the two may be a deadlock victim.
	err = retryDeadlock(func() error {
		if len(parts) == 1 {
			return insert(db, parts[0])
		}
		return transactUnformatted(ctx, db, func(tx *sql.Tx) error {
			for _, part := range parts {
				if err := insert(tx, part); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Which keyed jobs met a key already taken: read who holds each key now. A start that
	// held one of the keys uncommitted made the INSERT wait for its commit, so the holders
	// read here are committed. A key held by nobody met a finished job that retention deleted
	// after the INSERT: its job was not stored, and the freed key starts it now.
	held := slices.Clone(jobs)
	keyed := make(map[string]map[string]int) // tenant → key → index in jobs
	for i, job := range jobs {
		if job.IdempotencyKey.Valid {
			if keyed[job.TenantId] == nil {
				keyed[job.TenantId] = make(map[string]int)
			}
			keyed[job.TenantId][job.IdempotencyKey.String] = i
		}
	}
	var gone []int // indexes in jobs of the keys nobody holds
	for tenant, keys := range keyed {
		keyArgs := make([]any, 0, len(keys)+1)
		keyArgs = append(keyArgs, tenant)
		for key := range keys {
			keyArgs = append(keyArgs, key)
		}
		var holders []*Jobs
		query := fmt.Sprintf("select %s from %s where `tenant_id` = ? and `idempotency_key` in (%s)",
			jobsRows, m.table, inClause(len(keys)))
		if err := m.conn.QueryRowsCtx(ctx, &holders, query, keyArgs...); err != nil {
			return nil, err
		}
		for _, h := range holders {
			if i, ok := keys[h.IdempotencyKey.String]; ok {
				if h.Id != jobs[i].Id {
					held[i] = h
				}
				delete(keys, h.IdempotencyKey.String)
			}
		}
		for _, i := range keys {
			gone = append(gone, i)
		}
	}
	if len(gone) > 0 {
		if !retryGone {
			return nil, fmt.Errorf("the idempotency keys of %d jobs are held by no job after their insert", len(gone))
		}
		retry := make([]*Jobs, len(gone))
		for n, i := range gone {
			retry[n] = jobs[i]
		}
		again, err := m.insertMany(ctx, retry, false)
		if err != nil {
			return nil, err
		}
		for n, i := range gone {
			held[i] = again[n]
		}
	}
	return held, nil
}

// insertCapture records the statement goctl's Insert would run instead of running it.
type insertCapture struct {
	sqlx.SqlConn
	query string
	args  []any
}

func (c *insertCapture) ExecCtx(_ context.Context, query string, args ...any) (sql.Result, error) {
	c.query, c.args = query, args
	return nil, nil
}

// argsBytes is about what a row's arguments add to a statement: their strings (params, names,
// URLs) and, for every value, room for a number or a time and the punctuation around it.
func argsBytes(args []any) int {
	n := 0
	for _, arg := range args {
		switch v := arg.(type) {
		case string:
			n += len(v)
		case sql.NullString:
			n += len(v.String)
		}
		n += 32
	}
	return n
}

func (m *customJobsModel) FindAnyTenant(ctx context.Context, id string) (*Jobs, error) {
	return m.FindOne(ctx, id)
}

func (m *customJobsModel) FindForTenant(ctx context.Context, tenant, id string) (*Jobs, error) {
	query := fmt.Sprintf("select %s from %s where `id` = ? and `tenant_id` = ? limit 1", jobsRows, m.table)
	var job Jobs
	err := m.conn.QueryRowCtx(ctx, &job, query, id, tenant)
	if err != nil {
		return nil, err
	}
	return &job, nil
}

// endedBatch bounds the ids of one Ended query.
const endedBatch = 1000

func (m *customJobsModel) Ended(ctx context.Context, ids []string) ([]string, error) {
	var ended []string
	for batch := range slices.Chunk(ids, endedBatch) {
		query := fmt.Sprintf("select `id` from %s where `id` in (%s) and `status` in (?, ?, ?)", m.table, inClause(len(batch)))
		args := stringArgs(batch, string(StatusCompleted), string(StatusFailed), string(StatusCancelled))
		var found []string
		if err := m.conn.QueryRowsCtx(ctx, &found, query, args...); err != nil {
			return nil, err
		}
		ended = append(ended, found...)
	}
	return ended, nil
}

func (m *customJobsModel) List(ctx context.Context, f JobFilter, withResult bool) ([]*Jobs, error) {
	where, args := f.where()
	columns := listRows
	if withResult {
		columns = jobsRows
	}
	order := "`created_at` desc, `id` desc"
	if f.Ascending {
		order = "`created_at`, `id`"
	}
	if f.AllTenants {
		// No index leads with created_at; ids are UUIDv7, in creation order to the
		// millisecond, so the primary key gives an operator's list its order.
		order = "`id` desc"
		if f.Ascending {
			order = "`id`"
		}
	}
	query := fmt.Sprintf("select %s from %s%s order by %s limit ? offset ?", columns, m.table, where, order)
	args = append(args, f.Size, (f.Page-1)*f.Size)
	var jobs []*Jobs
	if err := m.conn.QueryRowsPartialCtx(ctx, &jobs, query, args...); err != nil {
		return nil, err
	}
	return jobs, nil
}

func (m *customJobsModel) Count(ctx context.Context, f JobFilter, upTo int64) (int64, bool, error) {
	where, args := f.where()
	// Counting stops after upTo+1 index entries, so a filter matching millions of jobs costs
	// no more than one matching upTo.
	query := fmt.Sprintf("select count(*) from (select 1 from %s%s limit ?) `matches`", m.table, where)
	var n int64
	if err := m.conn.QueryRowCtx(ctx, &n, query, append(args, upTo+1)...); err != nil {
		return 0, false, err
	}
	if n > upTo {
		return upTo, false, nil
	}
	return n, true, nil
}

// inClause returns "?, ?, ..." for n arguments.
func inClause(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func stringArgs(ids []string, extra ...any) []any {
	args := make([]any, 0, len(ids)+len(extra))
	for _, id := range ids {
		args = append(args, id)
	}
	return append(args, extra...)
}

func (m *customJobsModel) Claim(ctx context.Context, ids []string, owner, token string, lease time.Duration) ([]*Jobs, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	res, err := m.conn.ExecCtx(ctx, m.claimStatement(len(ids)), claimArgs(ids, owner, token, lease)...)
	if err != nil {
		return nil, err
	}
	// The token tells this claim's winners (now or in an earlier try) apart from jobs the
	// same owner claimed before; none changed now is still read, for the earlier try's.
	n, _ := res.RowsAffected()
	query := fmt.Sprintf("select %s from %s where `id` in (%s) and `lease_token` = ? and `status` = 'running'",
		claimedColumns, m.table, inClause(len(ids)))
	db, err := m.conn.RawDB()
	if err != nil {
		return nil, err
	}
	won := make([]*Jobs, 0, n)
	err = run(ctx, func() error {
		rows, err := db.QueryContext(ctx, query, stringArgs(ids, token)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			job := &Jobs{Status: string(StatusRunning), LeaseOwner: owner, LeaseToken: token}
			if err := rows.Scan(&job.Id, &job.TenantId, &job.FunctionId, &job.Name, &job.Params, &job.Attempt,
				&job.MaxAttempts, &job.TimeoutMs, &job.Progress, &job.Total, &job.Message, &job.CreatedAt,
				&job.RunAt, &job.StartedAt, &job.LeaseExpiresAt, &job.TraceParent, &job.UnregisteredSince); err != nil {
				return err
			}
			won = append(won, job)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return won, nil
}

// claimStatement moves n named jobs that are pending and due to running, for claimArgs.
func (m *customJobsModel) claimStatement(n int) string {
	return fmt.Sprintf("update %s set `status` = 'running', `attempt` = `attempt` + 1, `error` = '', `log_tail` = NULL, "+
		"`lease_owner` = ?, `lease_token` = ?, `lease_expires_at` = now(3) + interval ? microsecond, "+
		"`started_at` = now(3) where `id` in (%s) and `status` = 'pending' and %s", m.byPrimaryKey(), inClause(n), due)
}

func claimArgs(ids []string, owner, token string, lease time.Duration) []any {
	return append([]any{owner, token, lease.Microseconds()}, stringArgs(ids)...)
}

// claimedColumns are what a worker needs of a job it won, scanned by hand in Claim: go-zero's
// reflection over all of the row's columns was a quarter of a worker's CPU (issue 11).
const claimedColumns = "`id`, `tenant_id`, `function_id`, `name`, `params`, `attempt`, `max_attempts`, `timeout_ms`, " +
	"`progress`, `total`, `message`, `created_at`, `run_at`, `started_at`, `lease_expires_at`, `trace_parent`, `unregistered_since`"

func (m *customJobsModel) ExtendLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (map[string]int64, error) {
	held := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return held, nil
	}
	update := fmt.Sprintf("update %s set `lease_expires_at` = now(3) + interval ? microsecond "+
		"where `id` in (%s) and `status` = 'running' and `lease_owner` = ?", m.byPrimaryKey(), inClause(len(ids)))
	args := append([]any{lease.Microseconds()}, stringArgs(ids, owner)...)
	if _, err := m.conn.ExecCtx(ctx, update, args...); err != nil {
		return nil, err
	}
	var rows []struct {
		Id      string `db:"id"`
		Attempt int64  `db:"attempt"`
	}
	query := fmt.Sprintf("select `id`, `attempt` from %s where `id` in (%s) and `status` = 'running' and `lease_owner` = ?",
		m.table, inClause(len(ids)))
	if err := m.conn.QueryRowsCtx(ctx, &rows, query, stringArgs(ids, owner)...); err != nil {
		return nil, err
	}
	for _, r := range rows {
		held[r.Id] = r.Attempt
	}
	return held, nil
}

func (m *customJobsModel) Finish(ctx context.Context, token string, outcomes []Outcome) ([]bool, error) {
	won := make([]bool, len(outcomes))
	// One outcome per attempt takes part: a second outcome of the same attempt loses.
	type attempt struct {
		id string
		n  int64
	}
	order := make([]int, 0, len(outcomes))
	seen := make(map[attempt]bool, len(outcomes))
	for _, i := range byID(len(outcomes), func(i int) string { return outcomes[i].Id }) {
		o := outcomes[i]
		if o.Kind < OutcomeCompleted || o.Kind > OutcomeUnregistered {
			return nil, fmt.Errorf("model: outcome of job %s has unknown kind %d", o.Id, o.Kind)
		}
		if seen[attempt{o.Id, o.Attempt}] {
			continue
		}
		seen[attempt{o.Id, o.Attempt}] = true
		order = append(order, i)
	}
	if len(order) == 0 {
		return won, nil
	}
	// The token marks the rows this write changed, read back only when some outcome lost
	// here: either to another transition, or to an earlier try of this write.
	row := "select ? as v_id, ? as v_attempt, ? as v_kind, ? as v_status, ? as v_result, ? as v_error, " +
		"? as v_progress, ? as v_total, ? as v_message, ? as v_log_tail, ? as v_delay, ? as v_claim"
	values := strings.TrimSuffix(strings.Repeat(row+" union all ", len(order)), " union all ")
	args := make([]any, 0, 12*len(order)+1)
	for _, i := range order {
		o := outcomes[i]
		p := o.Progress
		args = append(args, o.Id, o.Attempt, int(o.Kind), string(o.Kind.Status()), o.Result, o.Error,
			p.Progress, p.Total, p.Message, p.LogTail, o.RetryDelay.Microseconds(), o.Claim)
	}
	// One statement, so one implicit transaction and one round trip, for every kind: the
	// compare-and-set is its WHERE (the attempt must still be running), the rows are locked
	// in primary-key order (the values are sorted by id; claims and sweeps lock in that order
	// too), and each kind's columns follow from v_kind. See OutcomeKind for what each does.
	// MariaDB assigns left to right (one SET may see an earlier one's value), so no
	// assignment reads a column assigned before it.
	query := fmt.Sprintf("update %[1]s join (%[2]s) v on `id` = v.v_id set `status` = v.v_status, "+
		"`result` = if(v.v_kind in (%[3]d, %[4]d), v.v_result, `result`), "+
		"`finished_at` = if(v.v_kind in (%[3]d, %[4]d), now(3), NULL), "+
		"`callback_due_at` = if(v.v_kind in (%[3]d, %[4]d), "+callbackDueAt+", `callback_due_at`), "+
		// A retry keeps the invariant of delayed jobs: run_at ahead means enqueued_at NULL.
		"`run_at` = if(v.v_kind in (%[5]d, %[7]d), now(3) + interval v.v_delay microsecond, `run_at`), "+
		"`enqueued_at` = case when v.v_kind in (%[5]d, %[7]d) then NULL when v.v_kind = %[6]d then now(3) else `enqueued_at` end, "+
		// Any other outcome means a worker had the function: the grace starts anew.
		"`unregistered_since` = if(v.v_kind = %[7]d, coalesce(`unregistered_since`, now(3)), NULL), "+
		"`attempt` = if(v.v_kind = %[7]d, `attempt` - 1, `attempt`), "+
		leaseReleasedTo+", "+
		"`error` = v.v_error, `progress` = v.v_progress, `total` = v.v_total, `message` = v.v_message, `log_tail` = v.v_log_tail "+
		"where `status` = 'running' and `attempt` = v.v_attempt and (v.v_kind <> %[7]d or `lease_token` = v.v_claim)",
		m.byPrimaryKey(), values, OutcomeCompleted, OutcomeFailed, OutcomeRetry, OutcomeHandBack, OutcomeUnregistered)
	res, err := m.conn.ExecCtx(ctx, query, append(args, token)...)
	if err != nil {
		return nil, err
	}
	changed, err := res.RowsAffected()
	if err != nil {
		return nil, err
	}
	if int(changed) == len(order) {
		for _, i := range order {
			won[i] = true
		}
		return won, nil
	}
	// Some lost (an id may appear once per attempt, at most one of which is running): the
	// rows carrying the token say which attempts won, now or in an earlier try whose reply
	// was lost (until then, its outcomes were reported lost and never announced).
	ids := make([]string, len(order))
	for k, i := range order {
		ids[k] = outcomes[i].Id
	}
	var changedRows []struct {
		Id      string `db:"id"`
		Attempt int64  `db:"attempt"`
	}
	query = fmt.Sprintf("select `id`, `attempt` from %s where `id` in (%s) and `lease_token` = ?", m.table, inClause(len(ids)))
	if err := m.conn.QueryRowsCtx(ctx, &changedRows, query, stringArgs(ids, token)...); err != nil {
		return nil, err
	}
	changedAttempts := make(map[attempt]bool, len(changedRows))
	for _, r := range changedRows {
		changedAttempts[attempt{r.Id, r.Attempt}] = true
	}
	for _, i := range order {
		won[i] = changedAttempts[attempt{outcomes[i].Id, outcomes[i].AttemptAfter()}]
	}
	return won, nil
}

// byID returns the indexes 0..n-1 ordered by the id of each. Transactions that update
// several rows do so in primary-key order, the order claims and the sweeper lock them in,
// so they cannot deadlock one another.
func byID(n int, id func(int) string) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return id(order[a]) < id(order[b]) })
	return order
}

func (m *customJobsModel) SaveProgress(ctx context.Context, progress []Progress) error {
	if len(progress) == 0 {
		return nil
	}
	update := fmt.Sprintf("update %s set `progress` = ?, `total` = ?, `message` = ?, `log_tail` = coalesce(?, `log_tail`) "+
		"where `id` = ? and `attempt` = ? and `status` = 'running'", m.table)
	return m.conn.TransactCtx(ctx, func(ctx context.Context, s sqlx.Session) error {
		for _, i := range byID(len(progress), func(i int) string { return progress[i].Id }) {
			p := progress[i]
			if _, err := s.ExecCtx(ctx, update, p.Progress, p.Total, p.Message, p.LogTail, p.Id, p.Attempt); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *customJobsModel) Cancel(ctx context.Context, id string, from Status) (bool, error) {
	query := fmt.Sprintf("update %s set `status` = 'cancelled', `finished_at` = now(3), %s, %s "+
		"where `id` = ? and `status` = ?", m.table, leaseReleased, callbackDue)
	return m.execWon(ctx, query, id, string(from))
}

func (m *customJobsModel) CancelMany(ctx context.Context, ids []string) (moved []Cancelled, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	err = retryDeadlock(func() (err error) { moved, err = m.cancelMany(ctx, ids); return err })
	return moved, err
}

// deadlockTries bounds the tries of a write InnoDB picks as a deadlock victim.
const deadlockTries = 5

// mysqlDeadlock is MySQL's error number for a transaction chosen as a deadlock victim.
const mysqlDeadlock = 1213

// retryDeadlock runs write, and again while InnoDB picks it as a deadlock victim (up to
// deadlockTries times): the victim's transaction is rolled back whole, so trying again is safe.
func retryDeadlock(write func() error) error {
	for try := 1; ; try++ {
		err := write()
		var myErr *mysql.MySQLError
		if errors.As(err, &myErr) && myErr.Number == mysqlDeadlock && try < deadlockTries {
			continue
		}
		return err
	}
}

func (m *customJobsModel) cancelMany(ctx context.Context, ids []string) ([]Cancelled, error) {
	var moved []Cancelled
	err := m.conn.TransactCtx(ctx, func(ctx context.Context, s sqlx.Session) error {
		// Lock the jobs still cancellable in primary-key order (as Finish does; see
		// byPrimaryKey); the update then moves exactly those, so what is returned is what
		// changed.
		lock := fmt.Sprintf("select `id`, `status`, `attempt`, `error` from %s where `id` in (%s) "+
			"and `status` in ('pending', 'running') order by `id` for update", m.byPrimaryKey(), inClause(len(ids)))
		if err := s.QueryRowsCtx(ctx, &moved, lock, stringArgs(ids)...); err != nil || len(moved) == 0 {
			return err
		}
		locked := make([]string, len(moved))
		for i, c := range moved {
			locked[i] = c.Id
		}
		update := fmt.Sprintf("update %s set `status` = 'cancelled', `finished_at` = now(3), %s, %s "+
			"where `id` in (%s) and `status` in ('pending', 'running')", m.byPrimaryKey(), leaseReleased, callbackDue, inClause(len(locked)))
		_, err := s.ExecCtx(ctx, update, stringArgs(locked)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return moved, nil
}

func (m *customJobsModel) PruneFinished(ctx context.Context, status Status, age time.Duration, limit int) ([]string, error) {
	// A range of idx_phase_finished (a finished job's phase is its status), then a delete by
	// primary key (byPrimaryKey: a batch that was most of the table read the whole table and
	// locked every row, the active jobs' too): each batch locks only its own rows, briefly
	// (autocommit). A terminal job
	// never changes status, and its callback never returns to pending, so the guard only
	// repeats what was selected.
	guard := "`phase` = ? and `finished_at` < now(3) - interval ? microsecond and `callback_status` <> 'pending'"
	var ids []string
	query := fmt.Sprintf("select `id` from %s where %s order by `finished_at` limit ?", m.table, guard)
	if err := m.conn.QueryRowsCtx(ctx, &ids, query, string(status), age.Microseconds(), limit); err != nil || len(ids) == 0 {
		return nil, err
	}
	// The multi-table form: a single-table DELETE takes no index hint.
	del := fmt.Sprintf("delete %s from %s where `id` in (%s) and %s", m.table, m.byPrimaryKey(), inClause(len(ids)), guard)
	// A start retrying the key of a job of the batch locks the two in the other order (see
	// InsertMany): the pass goes on after such a deadlock rather than end at it.
	err := retryDeadlock(func() error {
		_, err := m.conn.ExecCtx(ctx, del, stringArgs(ids, string(status), age.Microseconds())...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func (m *customJobsModel) execWon(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := m.conn.ExecCtx(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (m *customJobsModel) ExpiredLeases(ctx context.Context, limit int) ([]Expired, error) {
	var expired []Expired
	query := fmt.Sprintf("select `id`, `tenant_id`, `function_id`, `name`, `attempt`, `max_attempts` from %s where `status` = 'running' "+
		"and `lease_expires_at` < now(3) order by `lease_expires_at` limit ?", m.table)
	if err := m.conn.QueryRowsCtx(ctx, &expired, query, limit); err != nil {
		return nil, err
	}
	return expired, nil
}

func (m *customJobsModel) Reap(ctx context.Context, token string, expired []Expired) ([]Reaped, error) {
	guard := "where `id` = ? and `attempt` = ? and `status` = 'running' and `lease_expires_at` < now(3)"
	// A worker that had the function may have been running it: the unknown-function grace
	// (unregistered_since, see OutcomeUnregistered) starts anew.
	retry := fmt.Sprintf("update %s set `status` = 'pending', `error` = ?, `enqueued_at` = NULL, `unregistered_since` = NULL, %s %s",
		m.table, leaseReleasedTo, guard)
	fail := fmt.Sprintf("update %s set `status` = 'failed', `error` = ?, `finished_at` = now(3), %s, %s %s",
		m.table, leaseReleasedTo, callbackDue, guard)
	reaped := make([]Reaped, 0, len(expired))
	var lost []string
	for _, j := range expired {
		query := fail
		if j.reaped().Status == StatusPending {
			query = retry
		}
		won, err := m.execWon(ctx, query, ErrorWorkerLost, token, j.Id, j.Attempt)
		if err != nil {
			return nil, err
		}
		if won {
			reaped = append(reaped, j.reaped())
		} else {
			lost = append(lost, j.Id)
		}
	}
	if len(lost) == 0 {
		return reaped, nil
	}
	// A job lost to another transition (a late outcome, a heartbeat, another sweeper), or to
	// an earlier try of this reap whose reply was lost: the rows carrying the token say which.
	var earlier []string
	query := fmt.Sprintf("select `id` from %s where `id` in (%s) and `lease_token` = ?", m.table, inClause(len(lost)))
	if err := m.conn.QueryRowsCtx(ctx, &earlier, query, stringArgs(lost, token)...); err != nil {
		return nil, err
	}
	for _, j := range expired {
		if slices.Contains(earlier, j.Id) {
			reaped = append(reaped, j.reaped())
		}
	}
	return reaped, nil
}

// reaped is e as Reap moves it: back to pending while attempts are left, else failed.
func (e Expired) reaped() Reaped {
	status := StatusFailed
	if e.Attempt < e.MaxAttempts {
		status = StatusPending
	}
	return Reaped{Id: e.Id, TenantId: e.TenantId, FunctionId: e.FunctionId, Name: e.Name, Attempt: e.Attempt, Status: status}
}

func (m *customJobsModel) execCount(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := m.conn.ExecCtx(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (m *customJobsModel) Unenqueued(ctx context.Context, limit int) ([]string, error) {
	var ids []string
	// In the order of idx_status_enqueued_run (ids are time-ordered), so a batch reads only
	// its rows: ordered by created_at, each batch sorted every unmarked job, and enqueueing
	// 100,000 after a Redis loss took 24 s.
	query := fmt.Sprintf("select `id` from %s where `status` = 'pending' and `enqueued_at` is null and %s "+
		"order by `run_at`, `id` limit ?", m.table, due)
	if err := m.conn.QueryRowsCtx(ctx, &ids, query, limit); err != nil {
		return nil, err
	}
	return ids, nil
}

func (m *customJobsModel) MarkEnqueued(ctx context.Context, ids []string) error {
	// A job may have been claimed and retried since the caller chose it (another sweeper's
	// entry reached a worker first): a retry not yet due stays unenqueued, as every pending
	// job whose run_at lies ahead must, or the due pass would skip it until StaleEnqueue.
	return m.markEnqueued(ctx, ids, "if("+due+", now(3), NULL)", "")
}

func (m *customJobsModel) MarkUnenqueued(ctx context.Context, ids []string) error {
	return m.markEnqueued(ctx, ids, "NULL", "")
}

// markedBefore holds for a job whose enqueue mark is older than its argument (microseconds).
const markedBefore = "`enqueued_at` < now(3) - interval ? microsecond"

func (m *customJobsModel) StaleEnqueued(ctx context.Context, stale time.Duration, limit int) ([]string, error) {
	var ids []string
	query := fmt.Sprintf("select `id` from %s where `status` = 'pending' and %s order by `enqueued_at` limit ?",
		m.table, markedBefore)
	if err := m.conn.QueryRowsCtx(ctx, &ids, query, stale.Microseconds(), limit); err != nil {
		return nil, err
	}
	return ids, nil
}

// UnmarkStale compares the mark with what the caller read: a job enqueued, claimed or retried
// since keeps its newer state.
func (m *customJobsModel) UnmarkStale(ctx context.Context, ids []string, stale time.Duration) error {
	return m.markEnqueued(ctx, ids, "NULL", " and "+markedBefore, stale.Microseconds())
}

// markEnqueued sets the enqueue mark of the pending jobs among ids that also meet cond (with
// condArgs) to value.
func (m *customJobsModel) markEnqueued(ctx context.Context, ids []string, value, cond string, condArgs ...any) error {
	if len(ids) == 0 {
		return nil
	}
	query := fmt.Sprintf("update %s set `enqueued_at` = %s where `id` in (%s) and `status` = 'pending'%s",
		m.byPrimaryKey(), value, inClause(len(ids)), cond)
	_, err := m.conn.ExecCtx(ctx, query, append(stringArgs(ids), condArgs...)...)
	return err
}

func (m *customJobsModel) EnqueuedIDs(ctx context.Context) ([]string, error) {
	var ids []string
	// One range of idx_status_enqueued_run, read in its order (no sort). Read in pages of
	// 10,000 ordered by id, each page sorted every enqueued job after it: a pass over 100,000
	// took 0.36-1.0 s, over 300,000 2.9-4.4 s (now 43-228 ms and 0.24-0.38 s). The caller holds
	// every id anyway.
	query := fmt.Sprintf("select `id` from %s where `status` = 'pending' and `enqueued_at` is not null", m.table)
	if err := m.conn.QueryRowsCtx(ctx, &ids, query); err != nil {
		return nil, err
	}
	return ids, nil
}

func (m *customJobsModel) ClaimCallbacks(ctx context.Context, limit int, lease time.Duration) ([]*Jobs, error) {
	var ids []string
	query := fmt.Sprintf("select `id` from %s where `callback_status` = 'pending' and `callback_due_at` <= now(3) "+
		"order by `callback_due_at` limit ?", m.table)
	if err := m.conn.QueryRowsCtx(ctx, &ids, query, limit); err != nil || len(ids) == 0 {
		return nil, err
	}
	token := uuid.NewString()
	update := fmt.Sprintf("update %s set `callback_token` = ?, `callback_due_at` = now(3) + interval ? microsecond "+
		"where `id` in (%s) and `callback_status` = 'pending' and `callback_due_at` <= now(3)", m.byPrimaryKey(), inClause(len(ids)))
	if _, err := m.conn.ExecCtx(ctx, update, append([]any{token, lease.Microseconds()}, stringArgs(ids)...)...); err != nil {
		return nil, err
	}
	var won []*Jobs
	query = fmt.Sprintf("select %s from %s where `id` in (%s) and `callback_token` = ?", jobsRows, m.table, inClause(len(ids)))
	if err := m.conn.QueryRowsCtx(ctx, &won, query, stringArgs(ids, token)...); err != nil {
		return nil, err
	}
	return won, nil
}

func (m *customJobsModel) FinishCallback(ctx context.Context, id, token string, result DeliveryResult, errMsg string, retryIn time.Duration) (bool, error) {
	guard := "where `id` = ? and `callback_token` = ? and `callback_status` = 'pending'"
	switch result {
	case Delivered:
		return m.execWon(ctx, fmt.Sprintf("update %s set `callback_status` = 'delivered', `callback_attempts` = `callback_attempts` + 1, "+
			"`callback_error` = '', `callback_due_at` = NULL, `callback_token` = '', `callback_delivered_at` = now(3) %s", m.table, guard),
			id, token)
	case GivenUp:
		return m.execWon(ctx, fmt.Sprintf("update %s set `callback_status` = 'failed', `callback_attempts` = `callback_attempts` + 1, "+
			"`callback_error` = ?, `callback_due_at` = NULL, `callback_token` = '' %s", m.table, guard), errMsg, id, token)
	case RetryLater:
		return m.execWon(ctx, fmt.Sprintf("update %s set `callback_attempts` = `callback_attempts` + 1, `callback_error` = ?, "+
			"`callback_due_at` = now(3) + interval ? microsecond, `callback_token` = '' %s", m.table, guard),
			errMsg, retryIn.Microseconds(), id, token)
	case Released:
		return m.execWon(ctx, fmt.Sprintf("update %s set `callback_due_at` = now(3), `callback_token` = '' %s", m.table, guard), id, token)
	default:
		return false, fmt.Errorf("model: unknown callback delivery result %d", result)
	}
}
