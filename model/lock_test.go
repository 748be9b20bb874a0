package model_test

import (
	"context"
	"testing"
	"time"

	"jobs/internal/testutil"
	"jobs/model"
)

// One holder at a time across processes (here: connection pools), and a holder that dies
// without releasing (its connection ends, as when its process is killed) frees the lock.
func TestNamedLockHasOneHolderAndDiesWithIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testutil.NewDB(t)
	first, second := testutil.DB(t, dsn), testutil.DB(t, dsn)
	other := testutil.DB(t, testutil.NewDB(t)) // another database: another lock

	_, ok, err := model.NewNamedLock(first, "retention").TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("first TryLock: %v %v", ok, err)
	}
	if _, ok, err := model.NewNamedLock(second, "retention").TryLock(ctx); err != nil || ok {
		t.Fatalf("second TryLock while the first holds it: %v %v, want false", ok, err)
	}
	release, ok, err := model.NewNamedLock(other, "retention").TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("the lock of another database: %v %v, want it free", ok, err)
	}
	release()

	// The holder dies without releasing: the server ends its connection.
	holder := testutil.Query[int64](t, second, "select is_used_lock(concat('jobs:retention:', sha1(database())))")
	testutil.Exec(t, second, "kill connection ?", holder)
	// KILL returns before the session has ended.
	if !testutil.Eventually(5*time.Second, func() bool {
		release, ok, err = model.NewNamedLock(second, "retention").TryLock(ctx)
		return err == nil && ok
	}) {
		t.Fatalf("TryLock after the holder died: %v %v, want it taken", ok, err)
	}
	release()
	if release, ok, err := model.NewNamedLock(second, "retention").TryLock(ctx); err != nil || !ok {
		t.Fatalf("TryLock after release: %v %v", ok, err)
	} else {
		release()
	}
}
