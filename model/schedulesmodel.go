package model

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/stores/sqlx"

	"jobs/internal/text"
)

// Schedule sources: created through the API, or declared in the config file.
const (
	ScheduleFromAPI    = "api"
	ScheduleFromConfig = "config"
)

// Overlap policies of a schedule.
const (
	OverlapAllow = "allow"
	OverlapSkip  = "skip"
)

type (
	// SchedulesModel is the schedules table (migration 0020). Firing a schedule is a
	// compare-and-set on its next_fire_at in the transaction that inserts the jobs it starts.
	SchedulesModel interface {
		// Insert adds s and reports false, changing nothing, if its tenant has a schedule
		// with its id already.
		Insert(ctx context.Context, s *Schedules) (bool, error)
		// FindOne returns the tenant's schedule id, or ErrNotFound.
		FindOne(ctx context.Context, tenant, id string) (*Schedules, error)
		// List returns the tenant's schedules by id; every tenant's, by tenant and id, for "".
		List(ctx context.Context, tenant string) ([]*Schedules, error)
		// Delete removes the tenant's schedule id if it came from source, and reports
		// whether it did.
		Delete(ctx context.Context, tenant, id, source string) (bool, error)
		// Pause pauses the tenant's schedule id (if there is one).
		Pause(ctx context.Context, tenant, id string) error
		// Resume unpauses the tenant's schedule id with next as its next fire time if it is
		// paused; one that is not keeps its own.
		Resume(ctx context.Context, tenant, id string, next time.Time) error
		// Due returns up to limit unpaused schedules whose next fire time is at or before
		// now, the longest due first.
		Due(ctx context.Context, now time.Time, limit int) ([]*Schedules, error)
		// Fire applies f in one transaction, and returns the jobs it inserted; nothing at all
		// if f.From is no longer the schedule's next fire time (another process fired it) or
		// the schedule is paused or gone.
		Fire(ctx context.Context, f Firing) ([]*Jobs, error)
		// Trigger inserts job as started by the tenant's schedule id (out of its fire times)
		// and reports false, inserting nothing, if the schedule is gone.
		Trigger(ctx context.Context, tenant, id string, job *Jobs) (bool, error)
		// SyncConfig makes the schedules declared in the config exactly declared: it adds or
		// updates each (a changed cron or timezone takes next as its next fire time; an
		// unchanged one keeps its own, and its pause) and deletes those declared before but
		// not now.
		SyncConfig(ctx context.Context, declared []*Schedules) error
	}

	// Schedules is one row of the schedules table.
	Schedules struct {
		TenantId       string       `db:"tenant_id"`
		Id             string       `db:"id"`
		Cron           string       `db:"cron"`
		Timezone       string       `db:"timezone"`
		Overlap        string       `db:"overlap"`
		FunctionId     string       `db:"function_id"`
		Name           string       `db:"name"`
		Params         string       `db:"params"`
		Actor          string       `db:"actor"`
		GameId         string       `db:"game_id"`
		Env            string       `db:"env"`
		MaxAttempts    int64        `db:"max_attempts"`
		TimeoutSeconds int64        `db:"timeout_seconds"`
		CallbackUrl    string       `db:"callback_url"`
		Source         string       `db:"source"`
		Paused         bool         `db:"paused"`
		NextFireAt     time.Time    `db:"next_fire_at"`
		Fired          int64        `db:"fired"`
		Triggered      int64        `db:"triggered"`
		MissedFires    int64        `db:"missed_fires"`
		OverlapSkipped int64        `db:"overlap_skipped"`
		LastFireAt     sql.NullTime `db:"last_fire_at"`
		LastJobId      string       `db:"last_job_id"`
		LastError      string       `db:"last_error"`
		CreatedAt      time.Time    `db:"created_at"`
		UpdatedAt      time.Time    `db:"updated_at"`
	}

	// Firing is one scheduler's handling of a schedule's due fire times.
	Firing struct {
		Tenant, Id string
		// From is the next fire time the scheduler read; Next the one after the fire times
		// it handles, LastFire the latest of those.
		From, Next, LastFire time.Time
		// Jobs are the jobs to start, one per fire time (ScheduleId and ScheduledFor set),
		// oldest first. Under overlap skip only one starts, and only if the schedule's last
		// job is terminal; the rest count as overlap-skipped.
		Jobs        []*Jobs
		OverlapSkip bool
		// Missed is how many fire times are skipped as missed.
		Missed int64
		// Error is why the fire starts nothing (the function is gone), or "".
		Error string
	}

	defaultSchedulesModel struct {
		conn sqlx.SqlConn
	}
)

const schedulesRows = "`tenant_id`,`id`,`cron`,`timezone`,`overlap`,`function_id`,`name`,`params`,`actor`,`game_id`," +
	"`env`,`max_attempts`,`timeout_seconds`,`callback_url`,`source`,`paused`,`next_fire_at`,`fired`,`triggered`," +
	"`missed_fires`,`overlap_skipped`,`last_fire_at`,`last_job_id`,`last_error`,`created_at`,`updated_at`"

// scheduleDefinition is the columns a create or a config declaration sets.
const scheduleDefinition = "`tenant_id`,`id`,`cron`,`timezone`,`overlap`,`function_id`,`name`,`params`,`actor`,`game_id`," +
	"`env`,`max_attempts`,`timeout_seconds`,`callback_url`,`source`,`paused`,`next_fire_at`,`created_at`"

// NewSchedulesModel returns a model of the schedules table.
func NewSchedulesModel(conn sqlx.SqlConn) SchedulesModel {
	return &defaultSchedulesModel{conn: conn}
}

func definitionArgs(s *Schedules) []any {
	return []any{s.TenantId, s.Id, s.Cron, s.Timezone, s.Overlap, s.FunctionId, s.Name, s.Params, s.Actor, s.GameId,
		s.Env, s.MaxAttempts, s.TimeoutSeconds, s.CallbackUrl, s.Source, s.Paused, s.NextFireAt, s.CreatedAt}
}

func (m *defaultSchedulesModel) Insert(ctx context.Context, s *Schedules) (bool, error) {
	query := fmt.Sprintf("insert into `schedules` (%s) values (%s) on duplicate key update `id` = `id`",
		scheduleDefinition, inClause(strings.Count(scheduleDefinition, ",")+1))
	res, err := m.conn.ExecCtx(ctx, query, definitionArgs(s)...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (m *defaultSchedulesModel) FindOne(ctx context.Context, tenant, id string) (*Schedules, error) {
	var s Schedules
	query := "select " + schedulesRows + " from `schedules` where `tenant_id` = ? and `id` = ?"
	if err := m.conn.QueryRowCtx(ctx, &s, query, tenant, id); err != nil {
		return nil, err
	}
	return &s, nil
}

func (m *defaultSchedulesModel) List(ctx context.Context, tenant string) ([]*Schedules, error) {
	var list []*Schedules
	if tenant == "" {
		query := "select " + schedulesRows + " from `schedules` order by `tenant_id`, `id`"
		return list, m.conn.QueryRowsCtx(ctx, &list, query)
	}
	query := "select " + schedulesRows + " from `schedules` where `tenant_id` = ? order by `id`"
	return list, m.conn.QueryRowsCtx(ctx, &list, query, tenant)
}

func (m *defaultSchedulesModel) Delete(ctx context.Context, tenant, id, source string) (bool, error) {
	return m.changed(m.conn.ExecCtx(ctx, "delete from `schedules` where `tenant_id` = ? and `id` = ? and `source` = ?",
		tenant, id, source))
}

func (m *defaultSchedulesModel) Pause(ctx context.Context, tenant, id string) error {
	_, err := m.conn.ExecCtx(ctx, "update `schedules` set `paused` = 1 where `tenant_id` = ? and `id` = ?", tenant, id)
	return err
}

func (m *defaultSchedulesModel) Resume(ctx context.Context, tenant, id string, next time.Time) error {
	_, err := m.conn.ExecCtx(ctx, "update `schedules` set `next_fire_at` = if(`paused`, ?, `next_fire_at`), "+
		"`paused` = 0 where `tenant_id` = ? and `id` = ?", next, tenant, id)
	return err
}

func (m *defaultSchedulesModel) changed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (m *defaultSchedulesModel) Due(ctx context.Context, now time.Time, limit int) ([]*Schedules, error) {
	var list []*Schedules
	query := "select " + schedulesRows + " from `schedules` where `paused` = 0 and `next_fire_at` <= ? " +
		"order by `next_fire_at` limit ?"
	if err := m.conn.QueryRowsCtx(ctx, &list, query, now, limit); err != nil {
		return nil, err
	}
	return list, nil
}

// lastErrorChars is the size of `last_error` (varchar(1024)): a longer message would fail the
// fire in strict mode, and the schedule would stay due and fail every pass.
const lastErrorChars = 1024

func (m *defaultSchedulesModel) Fire(ctx context.Context, f Firing) ([]*Jobs, error) {
	var started []*Jobs
	err := m.conn.TransactCtx(ctx, func(ctx context.Context, session sqlx.Session) error {
		started = nil
		// The compare-and-set: of all processes that read From, one moves the schedule on;
		// the others wait for its row lock, then match no row.
		res, err := session.ExecCtx(ctx, "update `schedules` set `next_fire_at` = ?, `last_fire_at` = ?, "+
			"`missed_fires` = `missed_fires` + ?, `last_error` = ? where `tenant_id` = ? and `id` = ? "+
			"and `next_fire_at` = ? and `paused` = 0", f.Next, f.LastFire, f.Missed, text.Truncate(f.Error, lastErrorChars),
			f.Tenant, f.Id, f.From)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		jobs := f.Jobs
		if f.OverlapSkip && len(jobs) > 0 {
			busy, err := lastJobBusy(ctx, session, f.Tenant, f.Id)
			if err != nil {
				return err
			}
			if busy {
				jobs = nil
			} else {
				jobs = jobs[len(jobs)-1:]
			}
		}
		insert := newJobsModel(sqlx.NewSqlConnFromSession(session))
		for _, job := range jobs {
			if _, err := insert.Insert(ctx, job); err != nil {
				return err
			}
		}
		skipped := int64(len(f.Jobs) - len(jobs))
		if len(jobs) > 0 || skipped > 0 {
			if _, err := session.ExecCtx(ctx, "update `schedules` set `fired` = `fired` + ?, `overlap_skipped` = `overlap_skipped` + ?, "+
				"`last_job_id` = if(? = '', `last_job_id`, ?) where `tenant_id` = ? and `id` = ?",
				len(jobs), skipped, lastID(jobs), lastID(jobs), f.Tenant, f.Id); err != nil {
				return err
			}
		}
		started = jobs
		return nil
	})
	return started, err
}

// lastJobBusy reports whether the schedule's last job exists and is not terminal.
func lastJobBusy(ctx context.Context, session sqlx.Session, tenant, id string) (bool, error) {
	var status Status
	err := session.QueryRowCtx(ctx, &status, "select `j`.`status` from `schedules` `s` join `jobs` `j` on `j`.`id` = `s`.`last_job_id` "+
		"where `s`.`tenant_id` = ? and `s`.`id` = ?", tenant, id)
	if errors.Is(err, sqlx.ErrNotFound) {
		return false, nil
	}
	return err == nil && !status.Terminal(), err
}

func lastID(jobs []*Jobs) string {
	if len(jobs) == 0 {
		return ""
	}
	return jobs[len(jobs)-1].Id
}

func (m *defaultSchedulesModel) Trigger(ctx context.Context, tenant, id string, job *Jobs) (bool, error) {
	var found bool
	err := m.conn.TransactCtx(ctx, func(ctx context.Context, session sqlx.Session) error {
		res, err := session.ExecCtx(ctx, "update `schedules` set `triggered` = `triggered` + 1, `last_job_id` = ? "+
			"where `tenant_id` = ? and `id` = ?", job.Id, tenant, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := newJobsModel(sqlx.NewSqlConnFromSession(session)).Insert(ctx, job); err != nil {
			return err
		}
		found = true
		return nil
	})
	return found && err == nil, err
}

func (m *defaultSchedulesModel) SyncConfig(ctx context.Context, declared []*Schedules) error {
	return m.conn.TransactCtx(ctx, func(ctx context.Context, session sqlx.Session) error {
		// next_fire_at is assigned first: the assignments that follow see the new values.
		upsert := fmt.Sprintf("insert into `schedules` (%s) values (%s) on duplicate key update "+
			"`next_fire_at` = if(`source` <> 'config' or `cron` <> values(`cron`) or `timezone` <> values(`timezone`), "+
			"values(`next_fire_at`), `next_fire_at`), `paused` = if(`source` <> 'config', 0, `paused`), "+
			"`cron` = values(`cron`), `timezone` = values(`timezone`), `overlap` = values(`overlap`), "+
			"`function_id` = values(`function_id`), `name` = values(`name`), `params` = values(`params`), "+
			"`actor` = values(`actor`), `game_id` = values(`game_id`), `env` = values(`env`), "+
			"`max_attempts` = values(`max_attempts`), `timeout_seconds` = values(`timeout_seconds`), "+
			"`callback_url` = values(`callback_url`), `source` = 'config'",
			scheduleDefinition, inClause(strings.Count(scheduleDefinition, ",")+1))
		keep := make([]string, 0, len(declared))
		args := make([]any, 0, 2*len(declared))
		for _, s := range declared {
			if _, err := session.ExecCtx(ctx, upsert, definitionArgs(s)...); err != nil {
				return err
			}
			keep = append(keep, "(?, ?)")
			args = append(args, s.TenantId, s.Id)
		}
		drop := "delete from `schedules` where `source` = 'config'"
		if len(keep) > 0 {
			drop += " and (`tenant_id`, `id`) not in (" + strings.Join(keep, ", ") + ")"
		}
		_, err := session.ExecCtx(ctx, drop, args...)
		return err
	})
}
