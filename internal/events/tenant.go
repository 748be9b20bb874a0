package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"jobs/model"
)

// A tenant's event log (GET /api/v1/events) holds the status and progress changes of all
// its jobs, numbered per tenant and kept for the last Config.TenantMaxLen events, so a
// client that lost its connection resumes exactly from its Last-Event-ID within that window.

// Reset is the tenant stream's event telling a client to reload what it shows: sent first
// on a connection without Last-Event-ID, on a resume from before the kept window, and when
// Redis lost events the stream had sent.
const Reset = "reset"

// Reset reasons.
const (
	ResetNew     = "new"     // a connection without Last-Event-ID
	ResetExpired = "expired" // the events after Last-Event-ID are no longer all kept
	ResetLost    = "lost"    // Redis no longer knows Last-Event-ID, or the last event sent (it lost its data)
)

// ResetData is the data of a reset event.
type ResetData struct {
	Reason string `json:"reason"`
}

// Owner is whose job an event is about; its tenant's log gets the job's status and
// progress events.
type Owner struct {
	Tenant     string
	FunctionID string
	JobName    string
}

// OwnerOf returns the owner of job.
func OwnerOf(job *model.Jobs) Owner {
	return Owner{Tenant: job.TenantId, FunctionID: job.FunctionId, JobName: job.Name}
}

// TenantStatusData is the data of a status event in a tenant's log.
type TenantStatusData struct {
	ID         string       `json:"id"`
	FunctionID string       `json:"functionId"`
	Name       string       `json:"name"`
	Status     model.Status `json:"status"`
	Attempt    int64        `json:"attempt"`
	Error      string       `json:"error"`
}

// TenantProgressData is the data of a progress event in a tenant's log.
type TenantProgressData struct {
	ID       string `json:"id"`
	Progress int64  `json:"progress"`
	Total    int64  `json:"total"`
	Message  string `json:"message"`
}

// Created returns the event announcing a new job to its tenant (status pending). The job's
// own log leaves it out: a stream starts with the job as it is.
func Created(job *model.Jobs) Pending {
	return Pending{JobID: job.Id, Name: Status, Owner: OwnerOf(job), TenantOnly: true,
		Data: StatusData{Status: job.State(), Attempt: job.Attempt, Error: job.Error}}
}

// forTenant returns what a tenant's log holds of ev, if anything: status and progress
// events of jobs whose tenant is known.
func forTenant(ev Pending) (any, bool) {
	if ev.Owner.Tenant == "" {
		return nil, false
	}
	switch d := ev.Data.(type) {
	case StatusData:
		return TenantStatusData{ID: ev.JobID, FunctionID: ev.Owner.FunctionID, Name: ev.Owner.JobName,
			Status: d.Status, Attempt: d.Attempt, Error: d.Error}, ev.Name == Status
	case ProgressData:
		return TenantProgressData{ID: ev.JobID, Progress: d.Progress, Total: d.Total, Message: d.Message}, ev.Name == Progress
	}
	return nil, false
}

// tenantPublishScript numbers a tenant's events, appends them to the tenant's log and
// announces each, in one atomic step on the tenant's keys (one cluster slot), so the numbers
// of a tenant's events increase in the order they are published. Publish runs it once per
// tenant of a batch, beside the runs of publishScript, in the same pipeline.
//
// A tenant's counter starts at the current time in microseconds, not at 1: numbers then keep
// increasing even after Redis lost them, so a client's old Last-Event-ID is never mistaken
// for a recent one. (Lua numbers are doubles, exact to 2^53; '%.0f' writes them without an
// exponent.)
//
// KEYS[1] the tenant's event log (a list), KEYS[2] the tenant's event counter
// ARGV[1] max log length, ARGV[2] seconds to keep the keys, ARGV[3] the announce channel,
// ARGV[4] the tenant, then for each event its name and JSON data
// Returns the number of the last event.
var tenantPublishScript = redis.NewScript(`
local tid = tonumber(redis.call('GET', KEYS[2]) or '0')
if tid == 0 then
  local now = redis.call('TIME')
  tid = tonumber(now[1]) * 1000000 + tonumber(now[2])
end
local prefix = #ARGV[4] .. ' ' .. ARGV[4] .. ' '
local entries = {}
for i = 5, #ARGV, 2 do
  tid = tid + 1
  local entry = string.format('%.0f', tid) .. ' ' .. ARGV[i] .. ' ' .. ARGV[i + 1]
  entries[#entries + 1] = entry
  redis.call('PUBLISH', ARGV[3], prefix .. entry)
end
if redis.call('RPUSH', KEYS[1], unpack(entries)) > tonumber(ARGV[1]) then
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], string.format('%.0f', tid), 'EX', ARGV[2])
return tid
`)

// tenantCall is a run of tenantPublishScript on tenant's log, to which addTenantEvent adds
// events.
func (b *Bus) tenantCall(tenant string) scriptCall {
	return scriptCall{
		script: tenantPublishScript,
		keys:   []string{b.keys.TenantEventLog(tenant), b.keys.TenantEventSeq(tenant)},
		args:   []any{b.cfg.TenantMaxLen, int64(b.cfg.Retain.Seconds()), b.tenantChannel, tenant},
	}
}

// addTenantEvent adds ev, as data, to call, a run of tenantPublishScript on ev's tenant.
func addTenantEvent(call *scriptCall, ev Pending, data any) error {
	encoded, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("tenant event %s of job %s: %w", ev.Name, ev.JobID, err)
	}
	call.args = append(call.args, ev.Name, encoded)
	return nil
}

// TenantLastIDs returns the number of each tenant's latest event, 0 where none is kept, in
// one round trip.
func (b *Bus) TenantLastIDs(ctx context.Context, tenants []string) ([]int64, error) {
	keys := make([]string, len(tenants))
	for i, t := range tenants {
		keys[i] = b.keys.TenantEventSeq(t)
	}
	return b.counters(ctx, keys)
}

// tenantLastIDScript reads a tenant's event counter, starting it (as tenantPublishScript does) if
// the tenant has none.
//
// KEYS[1] the tenant's event counter; ARGV[1] seconds to keep a new counter
// Returns the counter.
var tenantLastIDScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[1], string.format('%.0f', tonumber(now[1]) * 1000000 + tonumber(now[2])), 'EX', ARGV[1])
end
return redis.call('GET', KEYS[1])
`)

// TenantLastID returns the number of the tenant's latest event. A tenant without any gets
// its numbering started, so that a client starting from the number it returns cannot be
// taken for one that missed the first events.
func (b *Bus) TenantLastID(ctx context.Context, tenant string) (int64, error) {
	return tenantLastIDScript.Run(ctx, b.rdb, []string{b.keys.TenantEventSeq(tenant)}, int64(b.cfg.Retain.Seconds())).Int64()
}

// tenantRangeScript reads a slice of a tenant's log by event number. The log holds
// consecutive numbers ending with the counter's, so an event's position follows from its
// number and only the asked-for entries are read.
//
// KEYS[1] the tenant's event log, KEYS[2] the tenant's event counter
// ARGV[1] read the events numbered after this, ARGV[2] up to and including this, ARGV[3] the
// log's maximum length
// Returns {the number of the oldest kept event (or of the next one, if none is kept), entries,
// 1 if the log is full (it may have been trimmed) else 0}.
var tenantRangeScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local kept = redis.call('LLEN', KEYS[1])
local first = last - kept + 1
local full = 0
if kept >= tonumber(ARGV[3]) then full = 1 end
local from = math.max(tonumber(ARGV[1]) + 1, first)
local to = math.min(tonumber(ARGV[2]), last)
if to < from then return {string.format('%.0f', first), {}, full} end
return {string.format('%.0f', first), redis.call('LRANGE', KEYS[1], string.format('%.0f', from - first), string.format('%.0f', to - first)), full}
`)

// TenantRange returns the kept events of tenant numbered after `after` up to and including
// upTo, and gone: "" if they are all of them, else why not, as a reset reason. ResetExpired
// when the log was trimmed past after+1; ResetLost when it was not, yet starts after after+1:
// Redis never had those numbers, it lost the tenant's keys and numbered afresh (from the
// time, so above the client's).
func (b *Bus) TenantRange(ctx context.Context, tenant string, after, upTo int64) (evs []Event, gone string, err error) {
	if upTo <= after {
		return nil, "", nil
	}
	res, err := tenantRangeScript.Run(ctx, b.rdb, []string{b.keys.TenantEventLog(tenant), b.keys.TenantEventSeq(tenant)},
		after, upTo, b.cfg.TenantMaxLen).Slice()
	if err != nil {
		return nil, "", err
	}
	if len(res) != 3 {
		return nil, "", redis.Nil
	}
	first, _ := strconv.ParseInt(res[0].(string), 10, 64)
	entries, _ := res[1].([]any)
	out := make([]Event, 0, len(entries))
	for _, e := range entries {
		if ev, ok := parseEntry("", e.(string)); ok {
			out = append(out, ev)
		}
	}
	switch {
	case first <= after+1:
	case res[2] == int64(1):
		gone = ResetExpired
	default:
		gone = ResetLost
	}
	return out, gone, nil
}

// withTenant returns data, the JSON object of a tenant event, with tenantId, the tenant,
// as its first field: the feed of every tenant's events (Hub.SubscribeAll) says whose each
// event is. A tenant is ASCII without quotes (auth.TenantRule), but is encoded all the same.
func withTenant(tenant string, data json.RawMessage) json.RawMessage {
	name, _ := json.Marshal(tenant)
	out := make(json.RawMessage, 0, len(data)+len(name)+13)
	out = append(append(append(out, `{"tenantId":`...), name...), ',')
	return append(out, bytes.TrimPrefix(data, []byte("{"))...)
}

// parseTenantAnnouncement reads "<length of tenant> <tenant> <id> <name> <data>" as
// published by tenantPublishScript (a tenant may contain spaces; its length says where it ends).
func parseTenantAnnouncement(payload string) (string, Event, bool) {
	n, rest, ok := strings.Cut(payload, " ")
	size, err := strconv.Atoi(n)
	if !ok || err != nil || size < 0 || size+1 > len(rest) || rest[size] != ' ' {
		return "", Event{}, false
	}
	ev, ok := parseEntry("", rest[size+1:])
	return rest[:size], ev, ok
}
