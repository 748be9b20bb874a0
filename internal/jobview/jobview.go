// Package jobview is how jobs look through the API: it parses list queries into model
// filters and turns job rows into the API.md shapes.
package jobview

import (
	"database/sql"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"jobs/internal/apperr"
	"jobs/internal/types"
	"jobs/model"
)

// DefaultSize is the list page size when the request names none (API.md).
const DefaultSize = 20

// MaxIDs is how many ids one list request may name.
const MaxIDs = 100

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

// scheduleIDPattern is what a schedule id may be (an ASCII column).
var scheduleIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// CheckScheduleID checks id, the parameter name, as a schedule id: a schedule's at create, a
// job's schedule_id in a list filter.
func CheckScheduleID(name, id string) error {
	if !scheduleIDPattern.MatchString(id) {
		return apperr.Invalid("%s %q must be 1 to 128 ASCII letters, digits, '.', '_', ':' or '-', starting with a letter or digit", name, id)
	}
	return nil
}

// ParseListQuery validates the list filters and paging, naming the offending parameter.
// maxSize bounds the page size (Limits.MaxPageSize). Tenant is the tenant_id asked for, if
// any: whether the caller may see it is the logic's to decide (jobquery.Scope).
func ParseListQuery(q *types.ListJobsReq, maxSize int64) (model.JobFilter, error) {
	f := model.JobFilter{Tenant: q.TenantId, Status: model.Status(q.Status), FunctionId: q.FunctionId, Actor: q.Actor, GameId: q.GameId,
		Env: q.Env, Name: q.Name, ScheduleId: q.ScheduleId}
	if f.Status != "" && !f.Status.Valid() {
		return f, apperr.Invalid("status %q is not one of pending, running, completed, failed, cancelled", f.Status)
	}
	// No job has a schedule id no schedule may have; one not ASCII would fail the query.
	if f.ScheduleId != "" {
		if err := CheckScheduleID("schedule_id", f.ScheduleId); err != nil {
			return f, err
		}
	}
	var err error
	if f.Ids, err = parseIDs(q.Ids); err != nil {
		return f, err
	}
	if f.CreatedFrom, err = parseListTime("created_from", q.CreatedFrom); err != nil {
		return f, err
	}
	if f.CreatedTo, err = parseListTime("created_to", q.CreatedTo); err != nil {
		return f, err
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return f, apperr.Invalid("created_from (%s) must be before created_to (%s)", q.CreatedFrom, q.CreatedTo)
	}
	switch q.Order {
	case "", "desc":
	case "asc":
		f.Ascending = true
	default:
		return f, apperr.Invalid("order must be desc or asc, not %q", q.Order)
	}
	if f.Page, err = parseBounded("page", q.Page, 1, 1, 1<<31); err != nil {
		return f, err
	}
	if f.Size, err = parseBounded("size", q.Size, min(DefaultSize, maxSize), 1, maxSize); err != nil {
		return f, err
	}
	return f, nil
}

// parseIDs splits the comma-separated ids parameter; each must be a job id.
func parseIDs(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxIDs {
		return nil, apperr.Invalid("ids names %d job ids; at most %d are allowed", len(parts), MaxIDs)
	}
	ids := make([]string, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, id := range parts {
		id = strings.TrimSpace(id)
		if err := ParseID(id); err != nil {
			return nil, apperr.Invalid("ids: %q is not a valid job id (a lowercase UUID)", id)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// parseListTime reads an RFC 3339 time or Unix milliseconds; "" is the zero time.
func parseListTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 || ms > 253402300799999 { // 9999-12-31T23:59:59.999Z
			return time.Time{}, apperr.Invalid("%s %q is out of range", name, s)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.Invalid("%s must be an RFC 3339 time (2026-11-21T10:00:00Z) or Unix milliseconds, not %q", name, s)
	}
	if !inStorableRange(t) {
		return time.Time{}, apperr.Invalid("%s %q is out of range (years 0001 to 9999 in UTC)", name, s)
	}
	return t.UTC(), nil
}

// inStorableRange reports whether t, in UTC, falls in the years a DATETIME column (and the
// MySQL driver) takes: 0001 to 9999. An offset can move a time across either end.
func inStorableRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// ParseRunAt reads the start request's runAt: an RFC 3339 time, or "" for none.
func ParseRunAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.Invalid("runAt must be an RFC 3339 time such as 2026-11-21T10:00:00Z, not %q", s)
	}
	if !inStorableRange(t) {
		return time.Time{}, apperr.Invalid("runAt %q is out of range (years 0001 to 9999 in UTC)", s)
	}
	return t.UTC().Truncate(time.Millisecond), nil
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
		Id:             j.Id,
		TenantId:       j.TenantId,
		FunctionId:     j.FunctionId,
		Name:           j.Name,
		Status:         j.Status,
		Params:         json.RawMessage(j.Params),
		Error:          j.Error,
		Progress:       j.Progress,
		Total:          j.Total,
		Message:        j.Message,
		Actor:          j.Actor,
		GameId:         j.GameId,
		Env:            j.Env,
		Attempt:        j.Attempt,
		MaxAttempts:    j.MaxAttempts,
		TimeoutSeconds: float64(j.TimeoutMs) / 1000,
		CallbackUrl:    j.CallbackUrl,
		RerunOf:        j.RerunOf,
		ScheduleId:     j.ScheduleId,
		ScheduledFor:   nullTime(j.ScheduledFor),
		CreatedAt:      FormatTime(j.CreatedAt),
		RunAt:          nullTime(j.RunAt),
		StartedAt:      nullTime(j.StartedAt),
		FinishedAt:     nullTime(j.FinishedAt),
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
	return &types.JobDetail{JobItem: Item(j), Result: result(j.Result), LogTail: logTail(j.LogTail), Callback: callback(j)}
}

// callback is the job's callback delivery, nil without a callbackUrl.
func callback(j *model.Jobs) *types.CallbackState {
	if j.CallbackStatus == "" {
		return nil
	}
	return &types.CallbackState{Status: j.CallbackStatus, Attempts: j.CallbackAttempts, LastError: j.CallbackError,
		NextAttemptAt: nullTime(j.CallbackDueAt), DeliveredAt: nullTime(j.CallbackDeliveredAt)}
}

// logTail decodes the kept output lines; none is [] rather than null.
func logTail(s sql.NullString) []types.LogLine {
	lines := []types.LogLine{}
	if s.Valid {
		_ = json.Unmarshal([]byte(s.String), &lines)
	}
	return lines
}

// CallbackPayload is the body of a callback delivery: the job as GET /api/v1/jobs/:id shows
// it, without its log tail and callback state.
type CallbackPayload struct {
	types.JobItem
	Result any `json:"result"`
}

// CallbackBody is the encoded CallbackPayload of j.
func CallbackBody(j *model.Jobs) ([]byte, error) {
	return json.Marshal(CallbackPayload{JobItem: Item(j), Result: result(j.Result)})
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
