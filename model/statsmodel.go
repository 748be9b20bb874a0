package model

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/stores/sqlx"
)

type (
	// StatsModel reads a tenant's numbers for the dashboard's overview. Each query reads
	// one index range (see migrations 0007 and 0010); counts are capped.
	StatsModel interface {
		// CountByStatus returns how many of the tenant's jobs have each status, counting at
		// most upTo+1 of each (so a count over upTo means "more than upTo").
		CountByStatus(ctx context.Context, tenant string, upTo int64) (map[Status]int64, error)
		// FinishedPerMinute returns how many of the tenant's jobs completed and failed in
		// each of the n minutes starting at first (a whole minute), oldest first.
		FinishedPerMinute(ctx context.Context, tenant string, first time.Time, n int) ([]MinuteCount, error)
		// Backlog returns, for each of functionIDs in order, the tenant's pending jobs
		// (counting at most upTo+1) and when the one due the longest became due.
		Backlog(ctx context.Context, tenant string, functionIDs []string, upTo int64) ([]Backlog, error)
		// PendingByFunction returns, for each function with pending jobs, how many there
		// are across tenants and when the one due the longest became due (its run_at, else
		// its creation; NULL while none is due). It reads every pending job's row: callers
		// cache it (internal/metrics).
		PendingByFunction(ctx context.Context) ([]FunctionBacklog, error)
	}

	// FunctionBacklog is one function's pending jobs across tenants.
	FunctionBacklog struct {
		FunctionId string       `db:"function_id"`
		Pending    int64        `db:"pending"`
		OldestDue  sql.NullTime `db:"oldest_due"`
	}

	// MinuteCount is how many jobs completed and failed in one minute.
	MinuteCount struct {
		Completed int64
		Failed    int64
	}

	// Backlog is one function's pending jobs.
	Backlog struct {
		FunctionId string `db:"function_id"`
		Pending    int64  `db:"pending"`
		// OldestNew is the creation of the oldest pending job without run_at (due since
		// then); OldestDue the earliest run_at that has passed among those with one.
		OldestNew sql.NullTime `db:"oldest_new"`
		OldestDue sql.NullTime `db:"oldest_due"`
	}

	defaultStatsModel struct {
		conn  sqlx.SqlConn
		table string

		// ended keeps the counts of minutes that are over, by tenant and Unix minute, so
		// that each call reads only the minutes it has not read before (at 50 jobs a second,
		// counting a whole hour is about 200,000 index entries).
		mu    sync.Mutex
		ended map[string]map[int64]MinuteCount
	}
)

// minuteSettled is how long after a minute ends its count is taken as final: finished_at is
// the database's clock when the finishing statement ran, a little before it commits.
const minuteSettled = 10 * time.Second

// NewStatsModel returns the overview's queries on the jobs table.
func NewStatsModel(conn sqlx.SqlConn) StatsModel {
	return &defaultStatsModel{conn: conn, table: "`jobs`", ended: make(map[string]map[int64]MinuteCount)}
}

var allStatuses = []Status{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled}

func (m *defaultStatsModel) CountByStatus(ctx context.Context, tenant string, upTo int64) (map[Status]int64, error) {
	parts := make([]string, len(allStatuses))
	args := make([]any, 0, 4*len(allStatuses))
	for i, status := range allStatuses {
		cond, arg := StatusCondition(status)
		parts[i] = fmt.Sprintf("select ? as `status`, (select count(*) from (select 1 from %s "+
			"where `tenant_id` = ? and %s limit ?) as `capped`) as `n`", m.table, cond)
		args = append(args, string(status), tenant, arg, upTo+1)
	}
	var rows []struct {
		Status Status `db:"status"`
		N      int64  `db:"n"`
	}
	if err := m.conn.QueryRowsCtx(ctx, &rows, strings.Join(parts, " union all "), args...); err != nil {
		return nil, err
	}
	counts := make(map[Status]int64, len(rows))
	for _, r := range rows {
		counts[r.Status] = r.N
	}
	return counts, nil
}

func (m *defaultStatsModel) FinishedPerMinute(ctx context.Context, tenant string, first time.Time, n int) ([]MinuteCount, error) {
	firstMinute := first.Unix() / 60
	out := make([]MinuteCount, n)
	// Read from the first minute not kept yet.
	m.mu.Lock()
	kept := m.ended[tenant]
	from := firstMinute
	for ; from < firstMinute+int64(n); from++ {
		c, ok := kept[from]
		if !ok {
			break
		}
		out[from-firstMinute] = c
	}
	m.mu.Unlock()
	if from == firstMinute+int64(n) {
		return out, nil
	}

	query := fmt.Sprintf("select `phase` as `status`, floor(unix_timestamp(`finished_at`) / 60) as `minute`, count(*) as `n` from %s "+
		"where `tenant_id` = ? and `phase` in (?, ?) and `finished_at` >= ? group by `phase`, `minute`", m.table)
	var rows []struct {
		Status string `db:"status"`
		Minute int64  `db:"minute"`
		N      int64  `db:"n"`
	}
	if err := m.conn.QueryRowsCtx(ctx, &rows, query, tenant, string(StatusCompleted), string(StatusFailed), time.Unix(from*60, 0).UTC()); err != nil {
		return nil, err
	}
	for i := from - firstMinute; i < int64(n); i++ {
		out[i] = MinuteCount{}
	}
	for _, r := range rows {
		i := r.Minute - firstMinute
		if i < 0 || i >= int64(n) {
			continue
		}
		if r.Status == string(StatusCompleted) {
			out[i].Completed = r.N
		} else {
			out[i].Failed = r.N
		}
	}

	settled := time.Now().Add(-minuteSettled).Unix()/60 - 1 // the latest minute over and settled
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := make(map[int64]MinuteCount, n)
	for i := range out {
		if minute := firstMinute + int64(i); minute <= settled {
			keep[minute] = out[i]
		}
	}
	m.ended[tenant] = keep
	return out, nil
}

func (m *defaultStatsModel) Backlog(ctx context.Context, tenant string, functionIDs []string, upTo int64) ([]Backlog, error) {
	if len(functionIDs) == 0 {
		return nil, nil
	}
	// finished_at is NULL on every pending job (chk_finished_terminal); naming it lets each
	// subquery use the index prefix (tenant, phase, finished_at, function_id), whose active
	// entries are the pending and the running jobs: the row tells them apart.
	pending := "`tenant_id` = ? and `phase` = 'active' and `finished_at` is null and `function_id` = ? and `status` = 'pending'"
	row := fmt.Sprintf("select ? as `function_id`, "+
		"(select count(*) from (select 1 from %[1]s where %[2]s limit ?) as `capped`) as `pending`, "+
		"(select min(`created_at`) from %[1]s where %[2]s and `run_at` is null) as `oldest_new`, "+
		"(select min(`run_at`) from %[1]s where %[2]s and `run_at` <= now(3)) as `oldest_due`", m.table, pending)
	parts := make([]string, len(functionIDs))
	args := make([]any, 0, 8*len(functionIDs))
	for i, fn := range functionIDs {
		parts[i] = row
		args = append(args, fn, tenant, fn, upTo+1, tenant, fn, tenant, fn)
	}
	var rows []Backlog
	if err := m.conn.QueryRowsCtx(ctx, &rows, strings.Join(parts, " union all "), args...); err != nil {
		return nil, err
	}
	return rows, nil
}

func (m *defaultStatsModel) PendingByFunction(ctx context.Context) ([]FunctionBacklog, error) {
	// The status prefix of idx_status_enqueued_run narrows it to pending jobs.
	query := fmt.Sprintf("select `function_id`, count(*) as `pending`, "+
		"min(if(`run_at` is null or `run_at` <= now(3), coalesce(`run_at`, `created_at`), null)) as `oldest_due` "+
		"from %s where `status` = 'pending' group by `function_id`", m.table)
	var rows []FunctionBacklog
	if err := m.conn.QueryRowsCtx(ctx, &rows, query); err != nil {
		return nil, err
	}
	return rows, nil
}
