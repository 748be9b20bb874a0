package dispatch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"jobs/internal/dispatch"
	"jobs/internal/testutil"
)

// refusing is a stream whose XADD fails, as Redis away does.
type refusing struct{}

func (refusing) Add(context.Context, ...string) error {
	return errors.New("injected: Redis refuses the XADD")
}

// Redis refuses the XADD and the clear of the enqueue mark meets a job row locked by another
// transaction (MySQL would make it wait 50 s): the caller is held at most the clear's bound,
// as the sweeper's clear after a failed mark is, not until MySQL answers.
func TestTheClearAfterAFailedXADDIsBounded(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t)
	job := testutil.NewFactory(t, store).Pending()
	testutil.LockJob(t, store.DB, job.Id)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := dispatch.New(store.Jobs, refusing{}).Enqueue(ctx, job.Id)
	if took := time.Since(began); err == nil || took > 10*time.Second {
		t.Errorf("enqueue with Redis refusing and the row locked: %v after %s, want the XADD's error within 10 s", err, took)
	}
}
