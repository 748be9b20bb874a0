// Package jobview is how jobs look through the API: it parses list queries into model
// filters and turns job rows into the API.md shapes.
package jobview

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"

	"jobs/internal/apperr"
	"jobs/internal/types"
	"jobs/model"
)

// List paging bounds (API.md).
const (
	DefaultSize = 20
	MaxSize     = 100
)

// TimeFormat is RFC 3339 in UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// ParseID checks that id is a canonical lowercase UUID.
func ParseID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return apperr.Invalid("id %q is not a valid job id (a lowercase UUID)", id)
	}
	return nil
}

// ParseListQuery validates the list filters and paging, naming the offending parameter.
func ParseListQuery(q *types.ListJobsReq) (model.JobFilter, error) {
	f := model.JobFilter{Status: q.Status, FunctionId: q.FunctionId, Actor: q.Actor, GameId: q.GameId, Env: q.Env}
	if f.Status != "" && !model.ValidStatus(f.Status) {
		return f, apperr.Invalid("status %q is not one of pending, running, completed, failed, cancelled", f.Status)
	}
	var err error
	if f.Page, err = parseBounded("page", q.Page, 1, 1, 1<<31); err != nil {
		return f, err
	}
	if f.Size, err = parseBounded("size", q.Size, DefaultSize, 1, MaxSize); err != nil {
		return f, err
	}
	return f, nil
}

// ParseWait validates the result route's wait parameter (seconds, 0..60).
func ParseWait(s string) (time.Duration, error) {
	n, err := parseBounded("wait", s, 0, 0, 60)
	return time.Duration(n) * time.Second, err
}

func parseBounded(name, s string, def, lo, hi int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, apperr.Invalid("%s must be an integer from %d to %d, not %q", name, lo, hi, s)
	}
	return n, nil
}

// Item is a job as a list item (without result).
func Item(j *model.Jobs) types.JobItem {
	return types.JobItem{
		Id:          j.Id,
		TenantId:    j.TenantId,
		FunctionId:  j.FunctionId,
		Name:        j.Name,
		Status:      j.Status,
		Params:      json.RawMessage(j.Params),
		Error:       j.Error,
		Progress:    j.Progress,
		Total:       j.Total,
		Message:     j.Message,
		Actor:       j.Actor,
		GameId:      j.GameId,
		Env:         j.Env,
		Attempt:     j.Attempt,
		MaxAttempts: j.MaxAttempts,
		CreatedAt:   FormatTime(j.CreatedAt),
		StartedAt:   nullTime(j.StartedAt),
		FinishedAt:  nullTime(j.FinishedAt),
	}
}

// Items converts a page of jobs; an empty page is [] rather than null.
func Items(jobs []*model.Jobs) []types.JobItem {
	items := make([]types.JobItem, len(jobs))
	for i, j := range jobs {
		items[i] = Item(j)
	}
	return items
}

// Detail is a job with its result.
func Detail(j *model.Jobs) *types.JobDetail {
	return &types.JobDetail{JobItem: Item(j), Result: result(j.Result)}
}

// Result is the result route's view of a job.
func Result(j *model.Jobs) *types.JobResult {
	return &types.JobResult{Id: j.Id, Status: j.Status, Result: result(j.Result), Error: j.Error, FinishedAt: nullTime(j.FinishedAt)}
}

// FunctionCall is the compatibility view of a job (docs/function_call.md).
func FunctionCall(j *model.Jobs) types.FunctionCall {
	call := types.FunctionCall{
		Id:         j.Id,
		FunctionId: j.FunctionId,
		Status:     j.Status,
		Input:      json.RawMessage(j.Params),
		Output:     result(j.Result),
		Error:      j.Error,
		Actor:      j.Actor,
		GameId:     j.GameId,
		Env:        j.Env,
		CreatedAt:  FormatTime(j.CreatedAt),
		StartedAt:  nullTime(j.StartedAt),
		FinishedAt: nullTime(j.FinishedAt),
	}
	if j.StartedAt.Valid && j.FinishedAt.Valid {
		ms := j.FinishedAt.Time.Sub(j.StartedAt.Time).Milliseconds()
		call.DurationMs = &ms
	}
	return call
}

// FormatTime formats t as API.md times.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeFormat)
}

func nullTime(t sql.NullTime) *string {
	if !t.Valid {
		return nil
	}
	s := FormatTime(t.Time)
	return &s
}

// result is the stored JSON result, or nil (JSON null) when there is none.
func result(r sql.NullString) any {
	if !r.Valid {
		return nil
	}
	return json.RawMessage(r.String)
}
