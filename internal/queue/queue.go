// Package queue owns the Redis side of job dispatch: the work stream and its consumer
// group, the cancel channel and the epoch marker that reveals a Redis that lost its data
// (named by rediskeys, which keeps the stream and its marker in one cluster slot).
//
// A stream entry carries only a job id; MySQL says whether the job still wants running.
// Entries are read with XREADGROUP, so an entry read by a consumer that dies stays in the
// group's pending list until another consumer takes it with XAUTOCLAIM. Workers ack (and
// delete) an entry once their claim of the job is committed in MySQL.
package queue

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"jobs/internal/rediskeys"
)

const (
	group    = "workers"
	jobField = "job"
)

// Queue is the Redis side of dispatch, namespaced by a key prefix.
type Queue struct {
	rdb        redis.UniversalClient
	stream     string
	epoch      string
	staleCheck string
	cancel     string
}

// Delivery is one stream entry read by a consumer.
type Delivery struct {
	EntryID string
	JobID   string
}

// New returns a queue whose keys all start with prefix + ":".
func New(rdb redis.UniversalClient, prefix string) *Queue {
	keys := rediskeys.New(prefix)
	return &Queue{
		rdb:        rdb,
		stream:     keys.Stream(),
		epoch:      keys.Epoch(),
		staleCheck: keys.StaleCheck(),
		cancel:     keys.CancelChannel(),
	}
}

// EnsureGroup creates the stream and its consumer group if missing. The group starts at
// the beginning of the stream, so entries added before it existed are still delivered.
func (q *Queue) EnsureGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// Add appends one entry per job id, in one round trip.
func (q *Queue) Add(ctx context.Context, jobIDs ...string) error {
	if len(jobIDs) == 1 {
		return q.rdb.XAdd(ctx, q.xaddArgs(jobIDs[0])).Err()
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range jobIDs {
			p.XAdd(ctx, q.xaddArgs(id))
		}
		return nil
	})
	return err
}

func (q *Queue) xaddArgs(jobID string) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: q.stream, Values: []string{jobField, jobID}}
}

// Read returns up to count new entries for consumer, waiting up to block for the first.
// It returns no entries and no error when block passes quietly.
func (q *Queue) Read(ctx context.Context, consumer string, count int, block time.Duration) ([]Delivery, error) {
	streams, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{q.stream, ">"}, Count: int64(count), Block: block,
	}).Result()
	if isNoGroup(err) {
		// Redis lost the group (restart, FLUSHALL): recreate it and read on the next call.
		return nil, q.EnsureGroup(ctx)
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Delivery
	for _, s := range streams {
		out = appendDeliveries(out, s.Messages)
	}
	return out, nil
}

// ClaimIdle moves up to count entries that have sat unacked with any consumer for at least
// minIdle to consumer and returns them: their reader died between reading and claiming.
func (q *Queue) ClaimIdle(ctx context.Context, consumer string, minIdle time.Duration, count int) ([]Delivery, error) {
	msgs, _, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.stream, Group: group, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: int64(count),
	}).Result()
	if isNoGroup(err) {
		return nil, q.EnsureGroup(ctx)
	}
	if err != nil {
		return nil, err
	}
	return appendDeliveries(nil, msgs), nil
}

// RemoveIdleConsumers removes from the group the consumers that have been idle for at
// least idle and have no entries pending, and returns their names. An entry a consumer
// reads between the check and the removal leaves with it; its job is still pending in
// MySQL and is enqueued again once its enqueue is stale.
func (q *Queue) RemoveIdleConsumers(ctx context.Context, idle time.Duration) ([]string, error) {
	consumers, err := q.rdb.XInfoConsumers(ctx, q.stream, group).Result()
	if isNoGroup(err) || isNoStream(err) {
		return nil, nil // no stream or group yet: no consumers either
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, c := range consumers {
		if c.Pending > 0 || c.Idle < idle {
			continue
		}
		if err := q.rdb.XGroupDelConsumer(ctx, q.stream, group, c.Name).Err(); err != nil {
			return removed, err
		}
		removed = append(removed, c.Name)
	}
	return removed, nil
}

func appendDeliveries(out []Delivery, msgs []redis.XMessage) []Delivery {
	for _, m := range msgs {
		id, _ := m.Values[jobField].(string)
		out = append(out, Delivery{EntryID: m.ID, JobID: id})
	}
	return out
}

// Ack acknowledges and deletes entries, so the stream holds only work not yet claimed.
func (q *Queue) Ack(ctx context.Context, entryIDs ...string) error {
	if len(entryIDs) == 0 {
		return nil
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, q.stream, group, entryIDs...)
		p.XDel(ctx, q.stream, entryIDs...)
		return nil
	})
	return err
}

// Backlog returns how many entries wait in the stream (read or not, not yet acked).
func (q *Queue) Backlog(ctx context.Context) (int64, error) {
	return q.rdb.XLen(ctx, q.stream).Result()
}

// scanPage is how many entries one read of the stream or of its pending list returns.
const scanPage = 10000

// Deliverable returns those of jobIDs that a worker will still get from the stream: whose
// entry the group has not delivered yet, or has delivered and holds as pending (not acked,
// so ClaimIdle hands it on). An entry on the stream that the group delivered and no longer
// holds (its consumer was removed, the group was recreated past it) is never delivered
// again, so its job does not count. The group is read before the stream: an entry
// delivered and acked in between has left the stream, its job claimed.
func (q *Queue) Deliverable(ctx context.Context, jobIDs []string) (map[string]bool, error) {
	last, pending, err := q.delivered(ctx)
	if err != nil {
		return nil, err
	}
	wanted := make(map[string]bool, len(jobIDs))
	for _, id := range jobIDs {
		wanted[id] = true
	}
	found := make(map[string]bool)
	start := "-"
	for {
		msgs, err := q.rdb.XRangeN(ctx, q.stream, start, "+", scanPage).Result()
		if err != nil {
			return nil, err
		}
		for _, d := range appendDeliveries(nil, msgs) {
			if wanted[d.JobID] && (pending[d.EntryID] || entryAfter(d.EntryID, last)) {
				found[d.JobID] = true
			}
		}
		if len(msgs) < scanPage {
			return found, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// delivered returns the last entry the group delivered and the entries pending with its
// consumers. Without a stream or a group it returns "0-0": the group is created at the
// stream's start, so every entry will be delivered.
func (q *Queue) delivered(ctx context.Context) (string, map[string]bool, error) {
	groups, err := q.rdb.XInfoGroups(ctx, q.stream).Result()
	if isNoStream(err) {
		return "0-0", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	i := slices.IndexFunc(groups, func(g redis.XInfoGroup) bool { return g.Name == group })
	if i < 0 {
		return "0-0", nil, nil
	}
	pending := make(map[string]bool, groups[i].Pending)
	start := "-"
	for {
		page, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: q.stream, Group: group, Start: start, End: "+", Count: scanPage,
		}).Result()
		if isNoGroup(err) {
			return "0-0", nil, nil // the group went meanwhile; it is recreated at the start
		}
		if err != nil {
			return "", nil, err
		}
		for _, p := range page {
			pending[p.ID] = true
		}
		if len(page) < scanPage {
			return groups[i].LastDeliveredID, pending, nil
		}
		start = "(" + page[len(page)-1].ID
	}
}

// entryAfter reports whether stream entry id a comes after b; ids are "<ms>-<seq>".
func entryAfter(a, b string) bool {
	am, as := entryID(a)
	bm, bs := entryID(b)
	return am > bm || am == bm && as > bs
}

func entryID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

// PublishCancel tells every worker that jobID was cancelled.
func (q *Queue) PublishCancel(ctx context.Context, jobID string) error {
	return q.rdb.Publish(ctx, q.cancel, jobID).Err()
}

// PublishCancels tells the workers running jobIDs to stop them, in one round trip.
func (q *Queue) PublishCancels(ctx context.Context, jobIDs []string) error {
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range jobIDs {
			p.Publish(ctx, q.cancel, id)
		}
		return nil
	})
	return err
}

// SubscribeCancels returns a subscription to cancelled job ids; the caller closes it.
func (q *Queue) SubscribeCancels(ctx context.Context) *redis.PubSub {
	return q.rdb.Subscribe(ctx, q.cancel)
}

// EpochLost reports whether Redis has lost the epoch marker, meaning it restarted empty
// or was flushed and every pending job must be enqueued again.
func (q *Queue) EpochLost(ctx context.Context) (bool, error) {
	n, err := q.rdb.Exists(ctx, q.epoch).Result()
	return n == 0, err
}

// TakeStaleCheck reports whether the caller may check the stream for stale enqueues now:
// true for one caller in every period (the key expires after it), across all processes.
func (q *Queue) TakeStaleCheck(ctx context.Context, period time.Duration) (bool, error) {
	return q.rdb.SetNX(ctx, q.staleCheck, 1, period).Result()
}

// SetEpoch writes the epoch marker if it is missing.
func (q *Queue) SetEpoch(ctx context.Context) error {
	return q.rdb.SetNX(ctx, q.epoch, uuid.NewString(), 0).Err()
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// isNoStream reports the answer of XINFO about a stream that does not exist.
func isNoStream(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}
