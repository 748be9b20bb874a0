package model_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/testutil"
	"jobs/model"
)

// The transitions of a job's life against a real database, each with the compare-and-set
// that makes its loser change nothing (see the package doc's state diagram).

var ctx = context.Background()

// openJobs opens a database of its own for a test, through at most maxConns connections,
// and returns its DSN (for a plain connection beside the model's) and the jobs model on it.
func openJobs(t *testing.T, maxConns int) (string, model.JobsModel) {
	t.Helper()
	dsn := testutil.NewDB(t)
	db, conn, err := model.Open(dsn, maxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, model.NewJobsModel(conn)
}

func setup(t *testing.T) (model.JobsModel, *testutil.Factory) {
	t.Helper()
	t.Parallel()
	store := testutil.NewStore(t)
	return store.Jobs, testutil.NewFactory(t, store)
}

func TestClaimMovesDuePendingJobsToRunning(t *testing.T) {
	jobs, f := setup(t)
	due := f.Pending(func(j *model.Jobs) { j.Progress, j.Message = 3, "old" })
	later := f.Pending(testutil.WithRunAt(time.Now().Add(time.Hour)))
	running := f.Running("other", time.Minute)
	done := f.Completed(`1`)

	won, err := jobs.Claim(ctx, []string{due.Id, later.Id, running.Id, done.Id, "no-such-job"}, "w1", uuid.NewString(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(won) != 1 || won[0].Id != due.Id {
		t.Fatalf("claim won %d jobs, want only the due pending one", len(won))
	}
	got := won[0]
	if got.State() != model.StatusRunning || got.Attempt != 1 || got.LeaseOwner != "w1" || !got.StartedAt.Valid ||
		!got.LeaseExpiresAt.Valid || time.Until(got.LeaseExpiresAt.Time) < 30*time.Second {
		t.Errorf("claimed job: status %s attempt %d owner %q started %v lease until %v", got.Status, got.Attempt,
			got.LeaseOwner, got.StartedAt, got.LeaseExpiresAt)
	}
	if after := f.Get(running.Id); after.LeaseOwner != "other" || after.Attempt != 1 {
		t.Errorf("claim of a running job took it over: owner %q attempt %d", after.LeaseOwner, after.Attempt)
	}
	if after := f.Get(later.Id); after.State() != model.StatusPending {
		t.Errorf("claim of a job not yet due: %s", after.Status)
	}
	if again, err := jobs.Claim(ctx, []string{due.Id}, "w2", uuid.NewString(), time.Minute); err != nil || len(again) != 0 {
		t.Errorf("second claim of a claimed job won %d (%v)", len(again), err)
	}
}

// A claim retried with its token (its first reply was lost) returns what the first try won,
// once, still at that attempt, and wins what else is pending; a cancelled job it had won is
// not returned.
func TestAClaimRetriedWithItsTokenReturnsWhatTheFirstTryWon(t *testing.T) {
	jobs, f := setup(t)
	first, cancelled, later := f.Pending(), f.Pending(), f.Pending()
	token := uuid.NewString()
	if won, err := jobs.Claim(ctx, []string{first.Id, cancelled.Id}, "w1", token, time.Minute); err != nil || len(won) != 2 {
		t.Fatalf("first try won %d (%v), want 2", len(won), err)
	}
	if ok, err := jobs.Cancel(ctx, cancelled.Id, model.StatusRunning); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}

	won, err := jobs.Claim(ctx, []string{first.Id, cancelled.Id, later.Id}, "w1", token, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, j := range won {
		got[j.Id] = j.Attempt
	}
	if len(got) != 2 || got[first.Id] != 1 || got[later.Id] != 1 {
		t.Errorf("retried claim returned %v, want %s and %s at attempt 1, not the cancelled %s", got, first.Id, later.Id, cancelled.Id)
	}
	if again, err := jobs.Claim(ctx, []string{first.Id}, "w2", uuid.NewString(), time.Minute); err != nil || len(again) != 0 {
		t.Errorf("another claimer's token won %d (%v)", len(again), err)
	}
}

func TestHeartbeatExtendsOnlyTheOwnersCurrentAttempt(t *testing.T) {
	jobs, f := setup(t)
	job := f.Running("w1", 2*time.Second, testutil.WithMaxAttempts(2))
	before := job.LeaseExpiresAt.Time

	held, err := jobs.ExtendLeases(ctx, "w1", []string{job.Id}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if held[job.Id] != 1 {
		t.Fatalf("owner's heartbeat holds %v, want attempt 1", held)
	}
	if after := f.Get(job.Id).LeaseExpiresAt.Time; !after.After(before) {
		t.Errorf("lease not extended: %v, was %v", after, before)
	}
	if held, err := jobs.ExtendLeases(ctx, "w2", []string{job.Id}, time.Minute); err != nil || len(held) != 0 {
		t.Errorf("another owner's heartbeat holds %v (%v)", held, err)
	}

	// The lease runs out, the reaper hands the job back and w2 claims attempt 2: w1's stale
	// heartbeat no longer holds it, and w2's lease is left alone.
	f.ExpireLease(job.Id)
	if _, err := reapExpired(jobs); err != nil {
		t.Fatal(err)
	}
	if won, err := jobs.Claim(ctx, []string{job.Id}, "w2", uuid.NewString(), time.Minute); err != nil || len(won) != 1 {
		t.Fatalf("reclaim: %d, %v", len(won), err)
	}
	lease := f.Get(job.Id).LeaseExpiresAt.Time
	if held, err := jobs.ExtendLeases(ctx, "w1", []string{job.Id}, time.Hour); err != nil || len(held) != 0 {
		t.Errorf("stale owner's heartbeat holds %v (%v)", held, err)
	}
	if after := f.Get(job.Id); after.LeaseOwner != "w2" || !after.LeaseExpiresAt.Time.Equal(lease) {
		t.Errorf("stale heartbeat changed the lease: owner %q until %v, was %v", after.LeaseOwner, after.LeaseExpiresAt.Time, lease)
	}
	if held, err := jobs.ExtendLeases(ctx, "w2", []string{job.Id}, time.Minute); err != nil || held[job.Id] != 2 {
		t.Errorf("new owner's heartbeat holds %v (%v), want attempt 2", held, err)
	}

	// A cancelled job is no longer held by anyone.
	if won, err := jobs.Cancel(ctx, job.Id, model.StatusRunning); err != nil || !won {
		t.Fatalf("cancel: %v %v", won, err)
	}
	if held, err := jobs.ExtendLeases(ctx, "w2", []string{job.Id}, time.Minute); err != nil || len(held) != 0 {
		t.Errorf("heartbeat of a cancelled job holds %v (%v)", held, err)
	}
}

func TestFinishCompletesOnceAndSchedulesTheCallback(t *testing.T) {
	jobs, f := setup(t)
	job := f.Running("w1", time.Minute, testutil.WithCallback("http://127.0.0.1:1/hook"))
	outcome := model.Outcome{Id: job.Id, Attempt: 1, Kind: model.OutcomeCompleted,
		Result:   sql.NullString{String: `{"n":1}`, Valid: true},
		Progress: model.Progress{Progress: 5, Total: 5, Message: "done", LogTail: sql.NullString{String: `[]`, Valid: true}}}
	second := outcome
	second.Kind, second.Result, second.Error = model.OutcomeFailed, sql.NullString{}, "second"

	won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{outcome, second})
	if err != nil {
		t.Fatal(err)
	}
	if !won[0] || won[1] {
		t.Fatalf("winners %v, want the first outcome only", won)
	}
	got := f.Get(job.Id)
	if got.State() != model.StatusCompleted || got.Result.String != `{"n":1}` || got.Progress != 5 || got.Message != "done" ||
		!got.FinishedAt.Valid || got.LeaseOwner != "" || got.LeaseExpiresAt.Valid {
		t.Errorf("completed job: %+v", got)
	}
	if got.CallbackStatus != model.CallbackPending || !got.CallbackDueAt.Valid {
		t.Errorf("callback not scheduled by the finish: status %q due %v", got.CallbackStatus, got.CallbackDueAt)
	}

	// A later finish, in a batch of its own, loses too, and changes nothing.
	if won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{second}); err != nil || won[0] {
		t.Errorf("finish of a completed job won (%v)", err)
	}
	if after := f.Get(job.Id); after.State() != model.StatusCompleted || after.Error != "" {
		t.Errorf("completed job after a losing finish: %s %q", after.Status, after.Error)
	}
}

// Finish is one statement for the whole batch; when some of its outcomes lose, each is still
// told apart: a cancelled job and a reclaimed one lose, the rest win, whatever their kind.
func TestFinishOfABatchWithLosersTellsEachOutcome(t *testing.T) {
	jobs, f := setup(t)
	completed := f.Running("w1", time.Minute)
	cancelled := f.Running("w1", time.Minute)
	if ok, err := jobs.Cancel(ctx, cancelled.Id, model.StatusRunning); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	retried := f.Running("w1", time.Minute, testutil.WithMaxAttempts(3))
	stale := f.Running("w1", time.Minute) // its outcome names attempt 2: a later attempt than the row's
	won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{
		{Id: completed.Id, Attempt: 1, Kind: model.OutcomeCompleted, Result: sql.NullString{String: `1`, Valid: true}},
		{Id: cancelled.Id, Attempt: 1, Kind: model.OutcomeCompleted, Result: sql.NullString{String: `2`, Valid: true}},
		{Id: retried.Id, Attempt: 1, Kind: model.OutcomeRetry, Error: "again", RetryDelay: time.Hour},
		{Id: stale.Id, Attempt: 2, Kind: model.OutcomeFailed, Error: "stale"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false}; !slices.Equal(won, want) {
		t.Fatalf("winners %v, want %v", won, want)
	}
	if got := f.Get(completed.Id); got.State() != model.StatusCompleted || got.Result.String != `1` {
		t.Errorf("winner: %s %q", got.Status, got.Result.String)
	}
	if got := f.Get(cancelled.Id); got.State() != model.StatusCancelled || got.Result.Valid {
		t.Errorf("cancelled job after a losing outcome: %s %q", got.Status, got.Result.String)
	}
	if got := f.Get(retried.Id); got.State() != model.StatusPending || got.Error != "again" || got.FinishedAt.Valid {
		t.Errorf("retried job: %s %q finished %v", got.Status, got.Error, got.FinishedAt)
	}
	if got := f.Get(stale.Id); got.State() != model.StatusRunning || got.Error != "" {
		t.Errorf("job after a stale outcome: %s %q", got.Status, got.Error)
	}
}

// A finish retried with its token (the first try committed, its reply was lost) reports
// what the first try applied as won, without applying it again, and still tells a loser:
// the caller announces each outcome once. Another write's token does not win it.
func TestAFinishRetriedWithItsTokenReportsWhatTheFirstTryWon(t *testing.T) {
	jobs, f := setup(t)
	first, handed, cancelled := f.Running("w1", time.Minute), f.Running("w1", time.Minute), f.Running("w1", time.Minute)
	outcomes := []model.Outcome{
		{Id: first.Id, Attempt: 1, Kind: model.OutcomeCompleted, Result: sql.NullString{String: `1`, Valid: true}},
		{Id: handed.Id, Attempt: 1, Kind: model.OutcomeHandBack},
		{Id: cancelled.Id, Attempt: 1, Kind: model.OutcomeCompleted, Result: sql.NullString{String: `3`, Valid: true}},
	}
	token := uuid.NewString()
	if won, err := jobs.Finish(ctx, token, outcomes[:2]); err != nil || !won[0] || !won[1] {
		t.Fatalf("first try: won %v (%v)", won, err)
	}
	finishedAt := f.Get(first.Id).FinishedAt
	if ok, err := jobs.Cancel(ctx, cancelled.Id, model.StatusRunning); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}

	won, err := jobs.Finish(ctx, token, outcomes)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false}; !slices.Equal(won, want) {
		t.Errorf("retried finish: winners %v, want %v (the first try's outcomes, not the cancelled job)", won, want)
	}
	if got := f.Get(first.Id); got.State() != model.StatusCompleted || got.FinishedAt != finishedAt {
		t.Errorf("job finished by the first try: %s finished %v, was %v", got.Status, got.FinishedAt, finishedAt)
	}
	if got := f.Get(cancelled.Id); got.State() != model.StatusCancelled || got.Result.Valid {
		t.Errorf("cancelled job after the retried finish: %s result %v", got.Status, got.Result)
	}
	if won, err := jobs.Finish(ctx, uuid.NewString(), outcomes[:1]); err != nil || won[0] {
		t.Errorf("another write's finish of a completed job won (%v)", err)
	}
}

func TestFinishOfAStaleAttemptLoses(t *testing.T) {
	jobs, f := setup(t)
	job := f.Expired("w1", testutil.WithMaxAttempts(3))
	if _, err := reapExpired(jobs); err != nil {
		t.Fatal(err)
	}
	if won, err := jobs.Claim(ctx, []string{job.Id}, "w2", uuid.NewString(), time.Minute); err != nil || len(won) != 1 {
		t.Fatalf("reclaim: %d, %v", len(won), err)
	}
	won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: job.Id, Attempt: 1, Kind: model.OutcomeFailed, Error: "late"}})
	if err != nil || won[0] {
		t.Fatalf("attempt 1's late outcome won (%v)", err)
	}
	if got := f.Get(job.Id); got.State() != model.StatusRunning || got.Attempt != 2 || got.Error != "" {
		t.Errorf("job after a stale outcome: %s attempt %d error %q", got.Status, got.Attempt, got.Error)
	}
}

func TestFinishRetryWaitsUnenqueuedAndHandBackIsEnqueued(t *testing.T) {
	jobs, f := setup(t)
	retried := f.Running("w1", time.Minute, testutil.WithMaxAttempts(3))
	handed := f.Running("w1", time.Minute, testutil.WithMaxAttempts(3))

	won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{
		{Id: retried.Id, Attempt: 1, Kind: model.OutcomeRetry, Error: "boom", RetryDelay: time.Hour},
		{Id: handed.Id, Attempt: 1, Kind: model.OutcomeHandBack},
	})
	if err != nil || !won[0] || !won[1] {
		t.Fatalf("winners %v (%v)", won, err)
	}
	r := f.Get(retried.Id)
	if r.State() != model.StatusPending || r.EnqueuedAt.Valid || !r.RunAt.Valid || time.Until(r.RunAt.Time) < 30*time.Minute ||
		r.Error != "boom" || r.Attempt != 1 || r.LeaseOwner != "" {
		t.Errorf("retried job: status %s enqueued %v run_at %v error %q attempt %d owner %q",
			r.Status, r.EnqueuedAt, r.RunAt, r.Error, r.Attempt, r.LeaseOwner)
	}
	if again, err := jobs.Claim(ctx, []string{retried.Id}, "w2", uuid.NewString(), time.Minute); err != nil || len(again) != 0 {
		t.Errorf("a retry was claimed before its run_at (%v)", err)
	}
	h := f.Get(handed.Id)
	if h.State() != model.StatusPending || !h.EnqueuedAt.Valid || h.RunAt.Valid || h.Attempt != 1 || h.LeaseOwner != "" {
		t.Errorf("handed-back job: status %s enqueued %v run_at %v attempt %d owner %q",
			h.Status, h.EnqueuedAt, h.RunAt, h.Attempt, h.LeaseOwner)
	}
	if again, err := jobs.Claim(ctx, []string{handed.Id}, "w2", uuid.NewString(), time.Minute); err != nil || len(again) != 1 || again[0].Attempt != 2 {
		t.Errorf("handed-back job not claimable as attempt 2 (%d won, %v)", len(again), err)
	}
}

// A worker without the job's function hands it back: pending again, its attempt given back,
// waiting unenqueued for run_at, and marked with the first such hand-back, which a later one
// keeps and a run on a worker with the function clears. A late retry of the hand-back's write
// (same token) finds the attempt number claimed again by another worker and loses: the
// compare-and-set names the claim.
func TestFinishUnregisteredGivesTheAttemptBack(t *testing.T) {
	jobs, f := setup(t)
	job := f.Pending(testutil.WithMaxAttempts(3))
	claim := func(owner string) string {
		t.Helper()
		token := uuid.NewString()
		if won, err := jobs.Claim(ctx, []string{job.Id}, owner, token, time.Minute); err != nil || len(won) != 1 || won[0].Attempt != 1 {
			t.Fatalf("claim by %s: %d won (%v), want attempt 1", owner, len(won), err)
		}
		return token
	}
	handBack := func(write, claimToken string) bool {
		t.Helper()
		won, err := jobs.Finish(ctx, write, []model.Outcome{{Id: job.Id, Attempt: 1, Kind: model.OutcomeUnregistered,
			Claim: claimToken, Error: "not here"}})
		if err != nil {
			t.Fatal(err)
		}
		return won[0]
	}

	firstWrite := uuid.NewString()
	if !handBack(firstWrite, claim("old")) {
		t.Fatal("hand-back lost")
	}
	h := f.Get(job.Id)
	if h.State() != model.StatusPending || h.Attempt != 0 || h.EnqueuedAt.Valid || !h.RunAt.Valid || !h.UnregisteredSince.Valid ||
		h.Error != "not here" || h.LeaseOwner != "" {
		t.Fatalf("handed-back job: status %s attempt %d enqueued %v run_at %v since %v error %q owner %q",
			h.Status, h.Attempt, h.EnqueuedAt, h.RunAt, h.UnregisteredSince, h.Error, h.LeaseOwner)
	}

	second := claim("other-old")
	if handBack(firstWrite, "") {
		t.Fatal("a late retry of the first hand-back handed back the next claim of the same attempt number")
	}
	if got := f.Get(job.Id); got.State() != model.StatusRunning || got.LeaseOwner != "other-old" {
		t.Fatalf("after the late retry: %s owner %q", got.Status, got.LeaseOwner)
	}
	if !handBack(uuid.NewString(), second) {
		t.Fatal("second hand-back lost")
	}
	if got := f.Get(job.Id); !got.UnregisteredSince.Time.Equal(h.UnregisteredSince.Time) || got.Attempt != 0 {
		t.Fatalf("second hand-back: since %v attempt %d, want the first's %v and 0", got.UnregisteredSince, got.Attempt, h.UnregisteredSince)
	}

	claim("new")
	if won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: job.Id, Attempt: 1, Kind: model.OutcomeCompleted,
		Result: sql.NullString{String: "1", Valid: true}}}); err != nil || !won[0] {
		t.Fatalf("completion: %v (%v)", won, err)
	}
	if got := f.Get(job.Id); got.State() != model.StatusCompleted || got.Attempt != 1 || got.UnregisteredSince.Valid {
		t.Fatalf("completed job: %s attempt %d since %v", got.Status, got.Attempt, got.UnregisteredSince)
	}
}

// The kind decides, not the delay: a retry without a backoff still waits, unenqueued, for the
// scheduler's due pass, and an outcome of no kind changes nothing.
func TestFinishRetryWithoutDelayIsARetryAndAnUnknownKindIsRefused(t *testing.T) {
	jobs, f := setup(t)
	retried := f.Running("w1", time.Minute, testutil.WithMaxAttempts(3))
	if won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: retried.Id, Attempt: 1, Kind: model.OutcomeRetry}}); err != nil || !won[0] {
		t.Fatalf("retry without delay: won %v (%v)", won, err)
	}
	if r := f.Get(retried.Id); r.State() != model.StatusPending || r.EnqueuedAt.Valid || !r.RunAt.Valid {
		t.Errorf("retry without delay: status %s enqueued %v run_at %v, want pending, unenqueued, run_at set",
			r.Status, r.EnqueuedAt, r.RunAt)
	}

	running := f.Running("w1", time.Minute)
	if _, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: running.Id, Attempt: 1}}); err == nil {
		t.Error("an outcome of no kind was accepted")
	}
	if got := f.Get(running.Id); got.State() != model.StatusRunning || got.LeaseOwner != "w1" {
		t.Errorf("job after an outcome of no kind: %s owner %q", got.Status, got.LeaseOwner)
	}
}

func TestCancelFromTheStatusItLeavesOnly(t *testing.T) {
	jobs, f := setup(t)
	pending := f.Pending(testutil.WithCallback("http://127.0.0.1:1/hook"))
	running := f.Running("w1", time.Minute)
	completed := f.Completed(`1`)

	if won, err := jobs.Cancel(ctx, pending.Id, model.StatusRunning); err != nil || won {
		t.Errorf("cancel from the wrong status won (%v)", err)
	}
	if won, err := jobs.Cancel(ctx, pending.Id, model.StatusPending); err != nil || !won {
		t.Errorf("cancel of a pending job lost (%v)", err)
	}
	if got := f.Get(pending.Id); got.State() != model.StatusCancelled || !got.FinishedAt.Valid || !got.CallbackDueAt.Valid {
		t.Errorf("cancelled job: status %s finished %v callback due %v", got.Status, got.FinishedAt, got.CallbackDueAt)
	}
	if won, err := jobs.Cancel(ctx, pending.Id, model.StatusPending); err != nil || won {
		t.Errorf("second cancel won (%v)", err)
	}

	if won, err := jobs.Cancel(ctx, running.Id, model.StatusRunning); err != nil || !won {
		t.Errorf("cancel of a running job lost (%v)", err)
	}
	if got := f.Get(running.Id); got.State() != model.StatusCancelled || got.LeaseOwner != "" {
		t.Errorf("cancelled running job: status %s owner %q", got.Status, got.LeaseOwner)
	}
	// The cancelled attempt's outcome arrives late: it loses.
	won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: running.Id, Attempt: 1, Kind: model.OutcomeCompleted,
		Result: sql.NullString{String: `1`, Valid: true}}})
	if err != nil || won[0] {
		t.Errorf("finish after cancel won (%v)", err)
	}
	if got := f.Get(running.Id); got.State() != model.StatusCancelled || got.Result.Valid {
		t.Errorf("job after a finish lost to cancel: %s result %v", got.Status, got.Result)
	}

	// A cancel after the finish loses.
	for _, from := range []model.Status{model.StatusRunning, model.StatusPending} {
		if won, err := jobs.Cancel(ctx, completed.Id, from); err != nil || won {
			t.Errorf("cancel (from %s) of a completed job won (%v)", from, err)
		}
	}
	if got := f.Get(completed.Id); got.State() != model.StatusCompleted {
		t.Errorf("completed job after cancel: %s", got.Status)
	}
}

func TestReapReturnsExpiredJobsOrFailsTheLastAttempt(t *testing.T) {
	jobs, f := setup(t)
	retry := f.Expired("w1", testutil.WithMaxAttempts(2))
	last := f.Expired("w1", testutil.WithCallback("http://127.0.0.1:1/hook"))
	alive := f.Running("w1", time.Minute)

	reaped, err := reapExpired(jobs)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]model.Status{}
	for _, r := range reaped {
		statuses[r.Id] = r.Status
	}
	if len(reaped) != 2 || statuses[retry.Id] != model.StatusPending || statuses[last.Id] != model.StatusFailed {
		t.Fatalf("reaped %+v, want the retry pending and the last attempt failed", reaped)
	}
	if got := f.Get(retry.Id); got.State() != model.StatusPending || got.Error != model.ErrorWorkerLost || got.EnqueuedAt.Valid ||
		got.LeaseOwner != "" {
		t.Errorf("reaped retry: status %s error %q enqueued %v owner %q", got.Status, got.Error, got.EnqueuedAt, got.LeaseOwner)
	}
	if got := f.Get(last.Id); got.State() != model.StatusFailed || got.Error != model.ErrorWorkerLost || !got.FinishedAt.Valid ||
		!got.CallbackDueAt.Valid {
		t.Errorf("reaped last attempt: status %s error %q finished %v callback due %v", got.Status, got.Error, got.FinishedAt, got.CallbackDueAt)
	}
	if got := f.Get(alive.Id); got.State() != model.StatusRunning || got.LeaseOwner != "w1" {
		t.Errorf("a live lease was reaped: %s %q", got.Status, got.LeaseOwner)
	}

	// The worker that lost the lease reports late: it loses, and a second reap finds nothing.
	won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: last.Id, Attempt: 1, Kind: model.OutcomeCompleted}})
	if err != nil || won[0] {
		t.Errorf("finish of a reaped attempt won (%v)", err)
	}
	if again, err := reapExpired(jobs); err != nil || len(again) != 0 {
		t.Errorf("second reap: %+v (%v)", again, err)
	}
}

// reapExpired reaps the expired leases as a sweep does, with a token of its own.
func reapExpired(jobs model.JobsModel) ([]model.Reaped, error) {
	expired, err := jobs.ExpiredLeases(ctx, 10)
	if err != nil {
		return nil, err
	}
	return jobs.Reap(ctx, uuid.NewString(), expired)
}

// A reap retried with its token (the first try's reply was lost) reports what the first try
// moved; another token's reap of the same jobs reports nothing.
func TestAReapRetriedWithItsTokenReportsWhatTheFirstTryMoved(t *testing.T) {
	jobs, f := setup(t)
	retry := f.Expired("w1", testutil.WithMaxAttempts(2))
	last := f.Expired("w1")
	expired, err := jobs.ExpiredLeases(ctx, 10)
	if err != nil || len(expired) != 2 {
		t.Fatalf("expired leases: %+v (%v)", expired, err)
	}
	token := uuid.NewString()
	if first, err := jobs.Reap(ctx, token, expired); err != nil || len(first) != 2 {
		t.Fatalf("first reap: %+v (%v)", first, err)
	}
	again, err := jobs.Reap(ctx, token, expired)
	statuses := map[string]model.Status{}
	for _, r := range again {
		statuses[r.Id] = r.Status
	}
	if err != nil || len(again) != 2 || statuses[retry.Id] != model.StatusPending || statuses[last.Id] != model.StatusFailed {
		t.Errorf("the reap retried with its token: %+v (%v), want the retry pending and the last attempt failed", again, err)
	}
	if other, err := jobs.Reap(ctx, uuid.NewString(), expired); err != nil || len(other) != 0 {
		t.Errorf("another token's reap of the reaped jobs: %+v (%v), want none", other, err)
	}
}

func TestHeartbeatBeforeReapKeepsTheJob(t *testing.T) {
	jobs, f := setup(t)
	job := f.Expired("w1")
	// The heartbeat lands first: the lease is live again and the reaper leaves the job alone.
	if held, err := jobs.ExtendLeases(ctx, "w1", []string{job.Id}, time.Minute); err != nil || held[job.Id] != 1 {
		t.Fatalf("heartbeat of an expired but unreaped lease: %v (%v)", held, err)
	}
	if reaped, err := reapExpired(jobs); err != nil || len(reaped) != 0 {
		t.Errorf("reaped a renewed lease: %+v (%v)", reaped, err)
	}
}

func TestSaveProgressOfAStaleOrFinishedAttemptChangesNothing(t *testing.T) {
	jobs, f := setup(t)
	job := f.Running("w1", time.Minute)
	tail := sql.NullString{String: `[{"stream":"stdout","line":"a"}]`, Valid: true}
	if err := jobs.SaveProgress(ctx, []model.Progress{{Id: job.Id, Attempt: 1, Progress: 2, Total: 4, Message: "half", LogTail: tail}}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.SaveProgress(ctx, []model.Progress{{Id: job.Id, Attempt: 0, Progress: 9, Message: "stale"}}); err != nil {
		t.Fatal(err)
	}
	// Without output lines the kept ones stay.
	if err := jobs.SaveProgress(ctx, []model.Progress{{Id: job.Id, Attempt: 1, Progress: 3, Total: 4, Message: "more"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.Get(job.Id); got.Progress != 3 || got.Message != "more" || got.LogTail != tail {
		t.Errorf("progress %d message %q tail %v", got.Progress, got.Message, got.LogTail)
	}

	// The worker's flush of progress taken before the outcome lands after it: the finished
	// job keeps what its outcome wrote.
	final := sql.NullString{String: `[{"stream":"stdout","line":"z"}]`, Valid: true}
	if won, err := jobs.Finish(ctx, uuid.NewString(), []model.Outcome{{Id: job.Id, Attempt: 1, Kind: model.OutcomeCompleted,
		Result: sql.NullString{String: `1`, Valid: true}, Progress: model.Progress{Progress: 4, Total: 4, Message: "done", LogTail: final}}}); err != nil || !won[0] {
		t.Fatalf("finish: %v (%v)", won, err)
	}
	if err := jobs.SaveProgress(ctx, []model.Progress{{Id: job.Id, Attempt: 1, Progress: 3, Total: 4, Message: "late", LogTail: tail}}); err != nil {
		t.Fatal(err)
	}
	if got := f.Get(job.Id); got.Progress != 4 || got.Message != "done" || got.LogTail != final {
		t.Errorf("finished job after a late progress flush: progress %d message %q tail %v", got.Progress, got.Message, got.LogTail)
	}
}

func TestEnqueueMarksAndTheSweepsQuery(t *testing.T) {
	jobs, f := setup(t)
	lost := f.Pending(testutil.Unenqueued)
	queued := f.Pending()
	delayed := f.Pending(testutil.WithRunAt(time.Now().Add(time.Hour)))
	f.Running("w1", time.Minute, testutil.Unenqueued)

	ids, err := jobs.Unenqueued(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != lost.Id {
		t.Fatalf("unenqueued %v, want only %s (the delayed job %s is not due)", ids, lost.Id, delayed.Id)
	}
	if err := jobs.MarkEnqueued(ctx, []string{lost.Id}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.MarkUnenqueued(ctx, []string{queued.Id}); err != nil {
		t.Fatal(err)
	}
	if ids, err := jobs.Unenqueued(ctx, 10); err != nil || len(ids) != 1 || ids[0] != queued.Id {
		t.Errorf("after the marks, unenqueued %v (%v), want only %s", ids, err, queued.Id)
	}
	if ids, err := jobs.EnqueuedIDs(ctx); err != nil || len(ids) != 1 || ids[0] != lost.Id {
		t.Errorf("enqueued ids %v (%v), want %s", ids, err, lost.Id)
	}
	if ids, err := jobs.StaleEnqueued(ctx, -time.Second, 10); err != nil || len(ids) != 1 || ids[0] != lost.Id {
		t.Errorf("with every mark stale, stale enqueues %v (%v), want %s", ids, err, lost.Id)
	}
	if ids, err := jobs.StaleEnqueued(ctx, time.Hour, 10); err != nil || len(ids) != 0 {
		t.Errorf("jobs marked more than an hour ago: %v (%v), want none", ids, err)
	}

	// Clearing a stale mark is a compare-and-set on the mark being older than stale.
	if err := jobs.UnmarkStale(ctx, []string{lost.Id}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ids, _ := jobs.EnqueuedIDs(ctx); len(ids) != 1 {
		t.Errorf("a fresh mark was cleared as if an hour old: enqueued ids %v", ids)
	}
	if err := jobs.UnmarkStale(ctx, []string{lost.Id}, -time.Second); err != nil {
		t.Fatal(err)
	}
	if ids, _ := jobs.Unenqueued(ctx, 10); len(ids) != 2 {
		t.Errorf("a stale mark was not cleared: unenqueued %v, want %s and %s", ids, lost.Id, queued.Id)
	}
}

func TestCallbackDeliveryClaimsAndFinishesOnce(t *testing.T) {
	jobs, f := setup(t)
	job := f.Completed(`1`, testutil.WithCallback("http://127.0.0.1:1/hook"))
	f.Completed(`1`) // no callback: never claimed
	pendingJob := f.Pending(testutil.WithCallback("http://127.0.0.1:1/hook"))

	claimed, err := jobs.ClaimCallbacks(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].Id != job.Id || claimed[0].CallbackToken == "" {
		t.Fatalf("claimed %d callbacks, want the completed job's (a pending job %s has none due yet)", len(claimed), pendingJob.Id)
	}
	token := claimed[0].CallbackToken
	if again, err := jobs.ClaimCallbacks(ctx, 10, time.Minute); err != nil || len(again) != 0 {
		t.Errorf("a leased delivery was claimed again: %d (%v)", len(again), err)
	}

	// A failed attempt schedules the next; its token is spent.
	if won, err := jobs.FinishCallback(ctx, job.Id, token, model.RetryLater, "503", -time.Second); err != nil || !won {
		t.Fatalf("record a failed attempt: %v %v", won, err)
	}
	if won, err := jobs.FinishCallback(ctx, job.Id, token, model.Delivered, "", 0); err != nil || won {
		t.Errorf("a spent token won (%v)", err)
	}
	claimed, err = jobs.ClaimCallbacks(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].CallbackToken == token {
		t.Fatalf("retry claim: %d (%v)", len(claimed), err)
	}
	token = claimed[0].CallbackToken
	if won, err := jobs.FinishCallback(ctx, job.Id, token, model.Delivered, "", 0); err != nil || !won {
		t.Fatalf("delivered: %v %v", won, err)
	}
	got := f.Get(job.Id)
	if got.CallbackStatus != model.CallbackDelivered || got.CallbackAttempts != 2 || !got.CallbackDeliveredAt.Valid ||
		got.CallbackDueAt.Valid || got.CallbackError != "" {
		t.Errorf("delivered callback: status %q attempts %d delivered %v due %v error %q", got.CallbackStatus,
			got.CallbackAttempts, got.CallbackDeliveredAt, got.CallbackDueAt, got.CallbackError)
	}
	if won, err := jobs.FinishCallback(ctx, job.Id, token, model.GivenUp, "late", 0); err != nil || won {
		t.Errorf("a second finish of the delivery won (%v)", err)
	}
}

func TestCallbackGivenUpIsFailed(t *testing.T) {
	jobs, f := setup(t)
	job := f.Failed("boom", testutil.WithCallback("http://127.0.0.1:1/hook"))
	claimed, err := jobs.ClaimCallbacks(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d (%v)", len(claimed), err)
	}
	if won, err := jobs.FinishCallback(ctx, job.Id, claimed[0].CallbackToken, model.GivenUp, "refused", 0); err != nil || !won {
		t.Fatalf("give up: %v %v", won, err)
	}
	got := f.Get(job.Id)
	if got.CallbackStatus != model.CallbackFailed || got.CallbackError != "refused" || got.CallbackDueAt.Valid {
		t.Errorf("given-up callback: status %q error %q due %v", got.CallbackStatus, got.CallbackError, got.CallbackDueAt)
	}
	if again, err := jobs.ClaimCallbacks(ctx, 10, time.Minute); err != nil || len(again) != 0 {
		t.Errorf("a given-up delivery was claimed again (%v)", err)
	}
}

func TestCallbackReleasedIsDueAgainUncounted(t *testing.T) {
	jobs, f := setup(t)
	job := f.Completed(`1`, testutil.WithCallback("http://127.0.0.1:1/hook"))
	claimed, err := jobs.ClaimCallbacks(ctx, 10, time.Hour)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d (%v)", len(claimed), err)
	}
	token := claimed[0].CallbackToken
	if won, err := jobs.FinishCallback(ctx, job.Id, token, model.Released, "", 0); err != nil || !won {
		t.Fatalf("release: %v %v", won, err)
	}
	if won, err := jobs.FinishCallback(ctx, job.Id, token, model.Delivered, "", 0); err != nil || won {
		t.Errorf("a released token won (%v)", err)
	}
	// Due again at once, not when the hour's lease runs out.
	again, err := jobs.ClaimCallbacks(ctx, 10, time.Hour)
	if err != nil || len(again) != 1 || again[0].CallbackToken == token {
		t.Fatalf("claim after the release: %d (%v)", len(again), err)
	}
	if got := again[0]; got.CallbackStatus != model.CallbackPending || got.CallbackAttempts != 0 || got.CallbackError != "" {
		t.Errorf("released callback: status %q attempts %d error %q, want pending, 0 attempts", got.CallbackStatus,
			got.CallbackAttempts, got.CallbackError)
	}
}
