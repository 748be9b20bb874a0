// Package events carries a job's live events (status, progress, log, done) from whoever
// produces them to every API process that streams them. Each job's events are numbered and
// kept in Redis (bounded, expiring after the job ends) so a client can resume from any
// instance with Last-Event-ID; each API process holds one subscription and fans events out
// in memory.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"jobs/model"
)

// Event names (API.md, stream route).
const (
	Snapshot = "snapshot"
	Status   = "status"
	Progress = "progress"
	Log      = "log"
	Done     = "done"
)

// Event is one event of one job. ID increases per job.
type Event struct {
	JobID string
	ID    int64
	Name  string
	Data  json.RawMessage
}

// StatusData is the data of a status event.
type StatusData struct {
	Status  string `json:"status"`
	Attempt int64  `json:"attempt"`
	Error   string `json:"error"`
}

// ProgressData is the data of a progress event.
type ProgressData struct {
	Progress int64  `json:"progress"`
	Total    int64  `json:"total"`
	Message  string `json:"message"`
}

// LogData is the data of a log event.
type LogData struct {
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// Config bounds what Redis keeps per job and per tenant.
type Config struct {
	// MaxLen is how many recent events of a job are kept for replay.
	MaxLen int64
	// Retain is how long a job's events are kept after its last event; a done event
	// shortens it to RetainDone. A tenant's events are kept Retain after its latest.
	Retain     time.Duration
	RetainDone time.Duration
	// TenantMaxLen is how many recent events of a tenant are kept for replay
	// (DefaultTenantMaxLen if 0).
	TenantMaxLen int64
}

// DefaultTenantMaxLen is the default of Config.TenantMaxLen.
const DefaultTenantMaxLen = 10000

// Bus publishes events and reads them back. It is safe for concurrent use.
type Bus struct {
	rdb           redis.UniversalClient
	cfg           Config
	prefix        string
	channel       string
	tenantChannel string
}

// NewBus returns a bus whose keys start with prefix + ":".
func NewBus(rdb redis.UniversalClient, prefix string, cfg Config) *Bus {
	if cfg.TenantMaxLen <= 0 {
		cfg.TenantMaxLen = DefaultTenantMaxLen
	}
	return &Bus{rdb: rdb, cfg: cfg, prefix: prefix, channel: prefix + ":events", tenantChannel: prefix + ":tenant-events"}
}

// The keys of one job share a hash tag, so the script's keys live in one cluster slot.
func (b *Bus) logKey(jobID string) string  { return b.prefix + ":evlog:{" + jobID + "}" }
func (b *Bus) seqKey(jobID string) string  { return b.prefix + ":evseq:{" + jobID + "}" }
func (b *Bus) doneKey(jobID string) string { return b.prefix + ":evdone:{" + jobID + "}" }

// publishScript numbers an event, appends it to the job's event log and announces it, in one
// atomic step, so the numbers of a job's events increase in the order they are published.
// The log is a list of "id name data" entries: a few hundred bytes for a typical job, where
// a stream would preallocate a 4 KiB node per job. A status or progress event of a job whose
// tenant is known goes to the tenant's log too, in the same step (see tenant.go), so the
// tenant's numbers follow the same order.
//
// A job's done is its last event: once one is stored (its number is kept in the done key),
// nothing more is stored in or announced for the job's log, and the script returns the done's
// number. (The tenant's log still gets the event: a stream may have stored the done of a job
// that ended before its worker's own status change was published, and the tenant's clients
// must still hear of that change.) So a stream that sends a done it had to store itself (the job ended
// without one) and the late done of the worker cannot both be stored, and a client that has
// had the done has had everything.
//
// KEYS[1] the job's event log (a list), KEYS[2] the job's event counter, KEYS[3] the number
// of the job's done; with a tenant also KEYS[4] the tenant's event log, KEYS[5] the tenant's
// event counter
// ARGV[1] job id, ARGV[2] event name, ARGV[3] JSON data, ARGV[4] max log length,
// ARGV[5] seconds to keep the keys, ARGV[6] the announce channel, ARGV[7] "1" to add the
// event to the job's log, "0" for the tenant's only; with a tenant also ARGV[8] the tenant's
// JSON data, ARGV[9] the tenant's max log length, ARGV[10] seconds to keep the tenant's keys,
// ARGV[11] the tenant announce channel, ARGV[12] the tenant
// Returns the event's number in the job's log (0 if it went to the tenant's only), or the
// done's if the job has one already.
//
// A tenant's counter starts at the current time in microseconds, not at 1: numbers then keep
// increasing even after Redis lost them, so a client's old Last-Event-ID is never mistaken
// for a recent one. (Lua numbers are doubles, exact to 2^53; '%.0f' writes them without an
// exponent.)
var publishScript = redis.NewScript(`
local id = 0
local done = redis.call('GET', KEYS[3])
if done then
  id = tonumber(done)
elseif ARGV[7] == '1' then
  id = redis.call('INCR', KEYS[2])
  local entry = id .. ' ' .. ARGV[2] .. ' ' .. ARGV[3]
  redis.call('RPUSH', KEYS[1], entry)
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  if ARGV[2] == 'done' then
    redis.call('SET', KEYS[3], id, 'EX', ARGV[5])
  end
  redis.call('PUBLISH', ARGV[6], ARGV[1] .. ' ' .. entry)
end
if #KEYS == 5 then
  if redis.call('EXISTS', KEYS[5]) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', KEYS[5], string.format('%.0f', tonumber(now[1]) * 1000000 + tonumber(now[2])))
  end
  local tid = redis.call('INCR', KEYS[5])
  local entry = string.format('%.0f', tid) .. ' ' .. ARGV[2] .. ' ' .. ARGV[8]
  redis.call('RPUSH', KEYS[4], entry)
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[9]), -1)
  redis.call('EXPIRE', KEYS[4], ARGV[10])
  redis.call('EXPIRE', KEYS[5], ARGV[10])
  redis.call('PUBLISH', ARGV[11], #ARGV[12] .. ' ' .. ARGV[12] .. ' ' .. entry)
end
return id
`)

// Pending is an event to publish: its number is assigned on publishing.
type Pending struct {
	JobID string
	Name  string
	Data  any
	// Owner is whose job it is. With a tenant, status and progress events also go to the
	// tenant's log (GET /api/v1/events).
	Owner Owner
	// TenantOnly leaves the job's own log out: the tenant's lists learn of a new job, while
	// the job's stream starts with the job as it is.
	TenantOnly bool
}

// Publish numbers, stores and announces events in one round trip. Events of one job are
// numbered in the order given, and so are the events of one tenant; none is stored after
// the job's done.
func (b *Bus) Publish(ctx context.Context, evs ...Pending) error {
	if len(evs) == 0 {
		return nil
	}
	keys := make([][]string, len(evs))
	args := make([][]any, len(evs))
	for i, ev := range evs {
		var err error
		if args[i], err = b.scriptArgs(ev); err != nil {
			return err
		}
		keys[i] = b.scriptKeys(ev.JobID)
		if tenantData, ok := forTenant(ev); ok {
			encoded, err := json.Marshal(tenantData)
			if err != nil {
				return fmt.Errorf("tenant event %s of job %s: %w", ev.Name, ev.JobID, err)
			}
			keys[i] = append(keys[i], b.tenantLogKey(ev.Owner.Tenant), b.tenantSeqKey(ev.Owner.Tenant))
			args[i] = append(args[i], encoded, b.cfg.TenantMaxLen, int64(b.cfg.Retain.Seconds()), b.tenantChannel, ev.Owner.Tenant)
		}
	}
	err := b.runPublish(ctx, keys, args)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A pipelined EVALSHA cannot fall back to EVAL; load the script once and retry.
		// NOSCRIPT fails every call of the pipeline, so nothing was published twice.
		if err = publishScript.Load(ctx, b.rdb).Err(); err == nil {
			err = b.runPublish(ctx, keys, args)
		}
	}
	return err
}

// scriptArgs are the job's part of publishScript's arguments for ev.
func (b *Bus) scriptArgs(ev Pending) ([]any, error) {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return nil, fmt.Errorf("event %s of job %s: %w", ev.Name, ev.JobID, err)
	}
	retain := b.cfg.Retain
	if ev.Name == Done {
		retain = b.cfg.RetainDone
	}
	toJob := "1"
	if ev.TenantOnly {
		toJob = "0"
	}
	return []any{ev.JobID, ev.Name, data, b.cfg.MaxLen, int64(retain.Seconds()), b.channel, toJob}, nil
}

// scriptKeys are the job's keys of publishScript.
func (b *Bus) scriptKeys(jobID string) []string {
	return []string{b.logKey(jobID), b.seqKey(jobID), b.doneKey(jobID)}
}

func (b *Bus) runPublish(ctx context.Context, keys [][]string, args [][]any) error {
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range keys {
			publishScript.EvalSha(ctx, p, keys[i], args[i]...)
		}
		return nil
	})
	return err
}

// EnsureDone stores and announces a done event for a job that has ended, unless the job has
// one already, and returns the number of the job's done. Streams call it when the job ended
// without its done being published, or after its events expired, so that every done a client
// sees is stored and a reconnect after it can be told there is nothing more.
func (b *Bus) EnsureDone(ctx context.Context, jobID string, data StatusData) (int64, error) {
	args, err := b.scriptArgs(Pending{JobID: jobID, Name: Done, Data: data})
	if err != nil {
		return 0, err
	}
	return publishScript.Run(ctx, b.rdb, b.scriptKeys(jobID), args...).Int64()
}

// LastID returns the number of the job's latest event, 0 if none is kept.
func (b *Bus) LastID(ctx context.Context, jobID string) (int64, error) {
	ids, err := b.LastIDs(ctx, []string{jobID})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// LastIDs returns the number of each job's latest event, 0 where none is kept, in one
// round trip.
func (b *Bus) LastIDs(ctx context.Context, jobIDs []string) ([]int64, error) {
	keys := make([]string, len(jobIDs))
	for i, id := range jobIDs {
		keys[i] = b.seqKey(id)
	}
	return b.counters(ctx, keys)
}

// counters reads event counters, 0 for a missing one, in one round trip.
func (b *Bus) counters(ctx context.Context, keys []string) ([]int64, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	// Pipelined reports a missing key as an error too; each command is read below.
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.Get(ctx, key)
		}
		return nil
	})
	ids := make([]int64, len(keys))
	for i, cmd := range cmds {
		n, err := cmd.Int64()
		if err != nil && err != redis.Nil {
			return nil, err
		}
		ids[i] = n
	}
	return ids, nil
}

// Range returns the kept events of jobID numbered after `after` up to and including upTo.
func (b *Bus) Range(ctx context.Context, jobID string, after, upTo int64) ([]Event, error) {
	if upTo <= after {
		return nil, nil
	}
	entries, err := b.rdb.LRange(ctx, b.logKey(jobID), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, entry := range entries {
		ev, ok := parseEntry(jobID, entry)
		if ok && ev.ID > after && ev.ID <= upTo {
			out = append(out, ev)
		}
	}
	return out, nil
}

// parseEntry reads a log entry, "id name data".
func parseEntry(jobID, entry string) (Event, bool) {
	parts := strings.SplitN(entry, " ", 3)
	if len(parts) != 3 {
		return Event{}, false
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return Event{}, false
	}
	return Event{JobID: jobID, ID: id, Name: parts[1], Data: json.RawMessage(parts[2])}, true
}

// parseAnnouncement reads "jobID id name data" as published by publishScript.
func parseAnnouncement(payload string) (Event, bool) {
	jobID, entry, ok := strings.Cut(payload, " ")
	if !ok {
		return Event{}, false
	}
	return parseEntry(jobID, entry)
}

// StatusChange returns the events announcing that a job moved to status: a status event
// (for its tenant's log too), and a done event when the status is terminal (streams re-read
// the job for done's data).
func StatusChange(jobID string, owner Owner, status string, attempt int64, errMsg string) []Pending {
	data := StatusData{Status: status, Attempt: attempt, Error: errMsg}
	evs := []Pending{{JobID: jobID, Name: Status, Data: data, Owner: owner}}
	if model.IsTerminal(status) {
		evs = append(evs, Pending{JobID: jobID, Name: Done, Data: data})
	}
	return evs
}

// Forget deletes the event logs of jobs that no longer exist (retention deleted them). Each
// job's keys share a slot, so one DEL per job works on a cluster too; one round trip in all.
func (b *Bus) Forget(ctx context.Context, jobIDs []string) error {
	if len(jobIDs) == 0 {
		return nil
	}
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range jobIDs {
			p.Del(ctx, b.logKey(id), b.seqKey(id), b.doneKey(id))
		}
		return nil
	})
	return err
}
