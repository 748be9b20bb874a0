package worker

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"jobs/internal/queue"
	"jobs/model"
)

// The pool's view of its dependencies: model.JobsModel, *queue.Queue and
// *dispatch.Dispatcher satisfy them; a test wraps the real ones to inject faults.
type (
	// Store is the part of the jobs table a pool writes: the transitions of running jobs.
	Store interface {
		Claim(ctx context.Context, ids []string, owner, token string, lease time.Duration) ([]*model.Jobs, error)
		ExtendLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (map[string]int64, error)
		SaveProgress(ctx context.Context, progress []model.Progress) error
		Finish(ctx context.Context, token string, outcomes []model.Outcome) (won []bool, err error)
	}

	// Stream is the work queue a pool consumes, and its cancel signals.
	Stream interface {
		EnsureGroup(ctx context.Context) error
		Read(ctx context.Context, consumer string, count int, block time.Duration) ([]queue.Delivery, error)
		ClaimIdle(ctx context.Context, consumer string, minIdle time.Duration, count int) ([]queue.Delivery, error)
		Ack(ctx context.Context, entryIDs ...string) error
		SubscribeCancels(ctx context.Context) *redis.PubSub
	}

	// Enqueuer puts jobs handed back to pending on the stream again (dispatch.Dispatcher).
	Enqueuer interface {
		Enqueue(ctx context.Context, ids ...string) error
	}
)
