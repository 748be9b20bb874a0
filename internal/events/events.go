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

	"github.com/redis/go-redis/v9"

	"jobs/internal/config"
	"jobs/internal/rediskeys"
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
	// Renumbered marks a live event numbered at or below one the hub delivered before for
	// its job (or tenant): Redis lost the events and numbers them again from below what
	// streams sent (see Hub).
	Renumbered bool
}

// StatusData is the data of a status event.
type StatusData struct {
	Status  model.Status `json:"status"`
	Attempt int64        `json:"attempt"`
	Error   string       `json:"error"`
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

// DefaultTenantMaxLen is the default of Events.TenantMaxLen where a config leaves it 0.
const DefaultTenantMaxLen = 10000

// Bus publishes events and reads them back. It is safe for concurrent use.
type Bus struct {
	rdb           redis.UniversalClient
	cfg           config.EventsConf
	keys          rediskeys.Keys
	channel       string
	tenantChannel string
	cluster       bool // a Redis Cluster: one run of publishScript per job (see Publish)
}

// NewBus returns a bus whose keys start with prefix + ":".
func NewBus(rdb redis.UniversalClient, prefix string, cfg config.EventsConf) *Bus {
	if cfg.TenantMaxLen <= 0 {
		cfg.TenantMaxLen = DefaultTenantMaxLen
	}
	keys := rediskeys.New(prefix)
	_, cluster := rdb.(*redis.ClusterClient)
	return &Bus{rdb: rdb, cfg: cfg, keys: keys, channel: keys.EventsChannel(), tenantChannel: keys.TenantEventsChannel(), cluster: cluster}
}

// publishScript numbers jobs' events, appends them to each job's event log and announces
// each, in one atomic step, so the numbers of a job's events increase in the order they are
// published. The log is a list of "id name data" entries: a few hundred bytes for a typical
// job, where a stream would preallocate a 4 KiB node per job. A status or progress event of a
// job whose tenant is known goes to the tenant's log too, by tenantPublishScript in the same
// pipeline (see tenant.go). A run takes many events: a script run costs Redis more than the
// commands it runs (about 20 µs against 1-3 µs a command). On a Redis Cluster a run takes one
// job's events, its keys being one slot; on a single server (or a Sentinel's master) all the
// jobs of a Publish (see Publish).
//
// A job's done is its last event: once one is stored (its number is kept in the done key),
// nothing more is stored in or announced for the job's log, and the script takes the done's
// number as the job's. (The tenant's log still gets the event: a stream may have stored the
// done of a job that ended before its worker's own status change was published, and the
// tenant's clients must still hear of that change.) So a stream that sends a done it had to
// store itself (the job ended without one) and the late done of the worker cannot both be
// stored, and a client that has had the done has had everything.
//
// KEYS for each job: its event log (a list), its event counter, the number of its done
// ARGV[1] max log length, ARGV[2] the announce channel, then for each job: its id, how many
// events follow, and for each event its name, JSON data and seconds to keep the job's keys
// Returns the number of the last job's last event stored, or its done's if it has one.
var publishScript = redis.NewScript(`
local maxlen = tonumber(ARGV[1])
local a = 3
local last
for k = 1, #KEYS, 3 do
  local job = ARGV[a]
  local first = a + 2
  a = first + 3 * tonumber(ARGV[a + 1])
  local read = redis.call('MGET', KEYS[k + 2], KEYS[k + 1])
  if read[1] then
    last = tonumber(read[1])
  else
    local id = tonumber(read[2] or '0')
    local entries = {}
    local retain
    for i = first, a - 1, 3 do
      id = id + 1
      retain = ARGV[i + 2]
      local entry = id .. ' ' .. ARGV[i] .. ' ' .. ARGV[i + 1]
      entries[#entries + 1] = entry
      redis.call('PUBLISH', ARGV[2], job .. ' ' .. entry)
      if ARGV[i] == 'done' then
        redis.call('SET', KEYS[k + 2], id, 'EX', retain)
        break
      end
    end
    if redis.call('RPUSH', KEYS[k], unpack(entries)) > maxlen then
      redis.call('LTRIM', KEYS[k], -maxlen, -1)
    end
    redis.call('EXPIRE', KEYS[k], retain)
    redis.call('SET', KEYS[k + 1], id, 'EX', retain)
    last = id
  end
end
return last
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

// scriptCall is one run of a script: on the keys of one cluster slot, or of one server.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	events int // how many events the run stores
	// A run of publishScript gathers its jobs' events here, in the order the jobs came;
	// jobArgs turns them into keys and args.
	jobs  []jobEvents
	jobAt map[string]int // index in jobs of each job's events
}

// jobEvents is one job's part of a run of publishScript: name, data and retain of each event.
type jobEvents struct {
	id     string
	events []any
}

// maxRunEvents bounds the events of one script run. Redis's Lua unpacks at most about 8,000
// values into one command (the RPUSH of a run's entries), and a bulk cancel or rerun of one
// tenant's jobs publishes up to Limits.MaxBulk (10,000) of them at once.
const maxRunEvents = 1000

// Publish numbers, stores and announces events in one round trip (one per node of a
// cluster). Events of one job are numbered in the order given, and so are the events of one
// tenant; none is stored in a job's log after the job's done. A tenant's events go to one run
// of tenantPublishScript, maxRunEvents at most; the jobs' events to one run of publishScript
// on a single server, one per job on a cluster (the runs of one owner follow each other in
// its node's pipeline, so their order holds).
func (b *Bus) Publish(ctx context.Context, evs ...Pending) error {
	type owner struct {
		tenant bool   // a tenant's log, else jobs' logs
		id     string // the tenant, or the job id on a cluster ("" on a single server: all jobs)
	}
	calls := make([]scriptCall, 0, 2)
	runs := make(map[owner]int) // index in calls of each owner's run
	runOf := func(o owner) *scriptCall {
		i, ok := runs[o]
		if !ok || calls[i].events == maxRunEvents {
			i = len(calls)
			runs[o] = i
			if o.tenant {
				calls = append(calls, b.tenantCall(o.id))
			} else {
				calls = append(calls, b.jobCall())
			}
		}
		calls[i].events++
		return &calls[i]
	}
	for _, ev := range evs {
		if !ev.TenantOnly {
			jobs := owner{}
			if b.cluster {
				jobs.id = ev.JobID
			}
			if err := b.addJobEvent(runOf(jobs), ev); err != nil {
				return err
			}
		}
		if tenantData, ok := forTenant(ev); ok {
			if err := addTenantEvent(runOf(owner{tenant: true, id: ev.Owner.Tenant}), ev, tenantData); err != nil {
				return err
			}
		}
	}
	for i := range calls {
		b.jobArgs(&calls[i])
	}
	return b.runScripts(ctx, calls)
}

// jobCall is a run of publishScript, to which addJobEvent adds events.
func (b *Bus) jobCall() scriptCall {
	return scriptCall{script: publishScript, jobAt: make(map[string]int)}
}

// addJobEvent adds ev to call, a run of publishScript.
func (b *Bus) addJobEvent(call *scriptCall, ev Pending) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return fmt.Errorf("event %s of job %s: %w", ev.Name, ev.JobID, err)
	}
	retain := b.cfg.Retain
	if ev.Name == Done {
		retain = b.cfg.RetainDone
	}
	i, ok := call.jobAt[ev.JobID]
	if !ok {
		i = len(call.jobs)
		call.jobAt[ev.JobID] = i
		call.jobs = append(call.jobs, jobEvents{id: ev.JobID})
	}
	call.jobs[i].events = append(call.jobs[i].events, ev.Name, data, int64(retain.Seconds()))
	return nil
}

// jobArgs sets the keys and args of call, if a run of publishScript, from its jobs' events.
func (b *Bus) jobArgs(call *scriptCall) {
	if call.script != publishScript {
		return
	}
	call.keys = make([]string, 0, 3*len(call.jobs))
	call.args = make([]any, 0, 2+2*len(call.jobs)+3*call.events)
	call.args = append(call.args, b.cfg.MaxLen, b.channel)
	for _, job := range call.jobs {
		call.keys = append(call.keys, b.keys.JobEventLog(job.id), b.keys.JobEventSeq(job.id), b.keys.JobDone(job.id))
		call.args = append(call.args, job.id, len(job.events)/3)
		call.args = append(call.args, job.events...)
	}
}

// runScripts runs calls in one pipeline, which go-redis splits by node on a cluster; the
// calls of one slot keep their order. A node that has lost its scripts (restarted, flushed
// with SCRIPT FLUSH) answers NOSCRIPT, which a pipelined EVALSHA cannot fall back from: the
// scripts are loaded (on every node) and the calls that failed so run again, in order.
func (b *Bus) runScripts(ctx context.Context, calls []scriptCall) error {
	if len(calls) == 0 {
		return nil
	}
	cmds := b.pipelineScripts(ctx, calls)
	var retry []scriptCall
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			retry = append(retry, calls[i])
		}
	}
	if len(retry) > 0 {
		loaded := make(map[*redis.Script]bool)
		for _, call := range retry {
			if !loaded[call.script] {
				if err := call.script.Load(ctx, b.rdb).Err(); err != nil {
					return err
				}
				loaded[call.script] = true
			}
		}
		cmds = b.pipelineScripts(ctx, retry)
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bus) pipelineScripts(ctx context.Context, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	// Each command's error is read by the caller.
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, call := range calls {
			cmds[i] = call.script.EvalSha(ctx, p, call.keys, call.args...)
		}
		return nil
	})
	return cmds
}

// EnsureDone stores and announces a done event for a job that has ended, unless the job has
// one already, and returns the number of the job's done. Streams call it when the job ended
// without its done being published, or after its events expired, so that every done a client
// sees is stored and a reconnect after it can be told there is nothing more.
func (b *Bus) EnsureDone(ctx context.Context, jobID string, data StatusData) (int64, error) {
	call := b.jobCall()
	if err := b.addJobEvent(&call, Pending{JobID: jobID, Name: Done, Data: data}); err != nil {
		return 0, err
	}
	b.jobArgs(&call)
	return call.script.Run(ctx, b.rdb, call.keys, call.args...).Int64()
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
		keys[i] = b.keys.JobEventSeq(id)
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
	entries, err := b.rdb.LRange(ctx, b.keys.JobEventLog(jobID), 0, -1).Result()
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
func StatusChange(jobID string, owner Owner, status model.Status, attempt int64, errMsg string) []Pending {
	data := StatusData{Status: status, Attempt: attempt, Error: errMsg}
	evs := []Pending{{JobID: jobID, Name: Status, Data: data, Owner: owner}}
	if status.Terminal() {
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
			p.Del(ctx, b.keys.JobEventLog(id), b.keys.JobEventSeq(id), b.keys.JobDone(id))
		}
		return nil
	})
	return err
}
