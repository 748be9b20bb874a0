// Package rediskeys names every Redis key and channel of a deployment, in one place, and
// puts the keys that are used together into one Redis Cluster hash slot.
//
// Every key starts with the deployment's prefix (so SCAN MATCH <prefix>:* finds them all)
// and ends with a hash tag in braces naming what owns it: the deployment's queue, a job, or
// a tenant. Redis Cluster hashes only the tag, so the keys of one owner share a slot: a
// script, MULTI or pipeline over them runs on one node, and a node that loses its data loses
// them together (the epoch marker with the stream it vouches for). Channels are not keys:
// PUBLISH reaches every node of a cluster.
package rediskeys

import (
	"errors"
	"strings"
)

// Keys names the keys and channels under one prefix.
type Keys struct {
	prefix string
}

// CheckPrefix returns an error unless prefix can start every key: not empty, and without
// braces, which would make Redis Cluster hash the prefix instead of each key's tag.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return errors.New("Redis.Prefix must not be empty")
	}
	if strings.ContainsAny(prefix, "{}") {
		return errors.New("Redis.Prefix must not contain { or }: Redis Cluster would hash it instead of each key's hash tag")
	}
	return nil
}

// New returns the names under prefix (see CheckPrefix).
func New(prefix string) Keys { return Keys{prefix: prefix} }

// Prefix is what every key and channel starts with, before ":".
func (k Keys) Prefix() string { return k.prefix }

// The queue's keys share the tag {<prefix>}: one slot per deployment.

// Stream is the work stream (a Redis stream of job ids) with its consumer group.
func (k Keys) Stream() string { return k.prefix + ":stream:{" + k.prefix + "}" }

// Epoch is the marker whose absence shows that Redis lost the stream (restarted empty,
// flushed, failed over to a replica without it). It lives in the stream's slot, so it is
// on the node that holds the stream and is lost with it.
func (k Keys) Epoch() string { return k.prefix + ":epoch:{" + k.prefix + "}" }

// StaleCheck is held, for a while, by the sweeper that last checked the stream for jobs
// whose enqueue is stale, so that sweepers check it in turn, not each at every sweep.
func (k Keys) StaleCheck() string { return k.prefix + ":stalecheck:{" + k.prefix + "}" }

// A job's event keys share the tag {<job id>}.

// JobEventLog is the list of a job's kept events.
func (k Keys) JobEventLog(jobID string) string { return k.prefix + ":evlog:{" + jobID + "}" }

// JobEventSeq is the counter numbering a job's events.
func (k Keys) JobEventSeq(jobID string) string { return k.prefix + ":evseq:{" + jobID + "}" }

// JobDone holds the number of a job's done event once it is stored.
func (k Keys) JobDone(jobID string) string { return k.prefix + ":evdone:{" + jobID + "}" }

// A tenant's event keys share the tag {<tenant>} (tenants have no braces: auth.TenantRule).

// TenantEventLog is the list of a tenant's kept events.
func (k Keys) TenantEventLog(tenant string) string { return k.prefix + ":tevlog:{" + tenant + "}" }

// TenantEventSeq is the counter numbering a tenant's events.
func (k Keys) TenantEventSeq(tenant string) string { return k.prefix + ":tevseq:{" + tenant + "}" }

// CancelChannel announces cancelled job ids to every worker.
func (k Keys) CancelChannel() string { return k.prefix + ":cancel" }

// EventsChannel announces jobs' events to every API process.
func (k Keys) EventsChannel() string { return k.prefix + ":events" }

// TenantEventsChannel announces tenants' events to every API process.
func (k Keys) TenantEventsChannel() string { return k.prefix + ":tenant-events" }
