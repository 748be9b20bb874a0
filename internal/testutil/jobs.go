package testutil

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/model"
)

// Store is the jobs table of a fresh test database, opened through the model the service
// uses, with the raw connection beside it for a test's checks and "as if" changes.
type Store struct {
	Jobs model.JobsModel
	DB   *sql.DB
	DSN  string
}

// NewStore creates a migrated test database and opens it; both go when the test ends.
func NewStore(t testing.TB) *Store {
	t.Helper()
	dsn := NewDB(t)
	db, conn, err := model.Open(dsn, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Store{Jobs: model.NewJobsModel(conn), DB: db, DSN: dsn}
}

// FactoryTenant is the tenant of the jobs a Factory makes unless a test says otherwise.
const FactoryTenant = "tenant-a"

// Factory makes jobs in any state. A pending job is inserted the way POST /api/v1/jobs stores
// one; every other state is reached by the model's own transitions from there (claim, finish,
// cancel), so a factory job is one the service could have made. Only time is faked: an
// expired lease is moved into the past.
type Factory struct {
	t     testing.TB
	store *Store
}

// NewFactory returns a factory of jobs in store.
func NewFactory(t testing.TB, store *Store) *Factory {
	return &Factory{t: t, store: store}
}

// Pending inserts a pending job of function "echo" for FactoryTenant, one attempt allowed,
// marked enqueued (as a start leaves it: the caller puts it on the stream if it needs to);
// each of adjust then changes the row before it is inserted.
func (f *Factory) Pending(adjust ...func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	return f.Get(f.PendingMany(1, adjust...)[0])
}

// PendingMany inserts n jobs as Pending does, a thousand per statement, and returns their
// ids in the order they were made (UUIDv7: id order).
func (f *Factory) PendingMany(n int, adjust ...func(*model.Jobs)) []string {
	f.t.Helper()
	ids := make([]string, 0, n)
	for len(ids) < n {
		batch := make([]*model.Jobs, min(1000, n-len(ids)))
		now := time.Now().UTC().Truncate(time.Millisecond)
		for i := range batch {
			job := &model.Jobs{Id: uuid.Must(uuid.NewV7()).String(), TenantId: FactoryTenant, FunctionId: "echo",
				Status: string(model.StatusPending), Params: "{}", MaxAttempts: 1, CreatedAt: now}
			job.EnqueuedAt = sql.NullTime{Time: now, Valid: true}
			for _, a := range adjust {
				a(job)
			}
			batch[i] = job
			ids = append(ids, job.Id)
		}
		held, err := f.store.Jobs.InsertMany(context.Background(), batch)
		if err == nil {
			for i, h := range held {
				if h != batch[i] {
					err = fmt.Errorf("the idempotency key of job %s was taken", batch[i].Id)
				}
			}
		}
		if err != nil {
			f.t.Fatalf("insert pending jobs: %v", err)
		}
	}
	return ids
}

// Running makes a job (see Pending) and claims it for owner with a lease of lease.
func (f *Factory) Running(owner string, lease time.Duration, adjust ...func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	job := f.Pending(adjust...)
	won, err := f.store.Jobs.Claim(context.Background(), []string{job.Id}, owner, uuid.NewString(), lease)
	if err != nil || len(won) != 1 {
		f.t.Fatalf("claim job %s for the factory: won %d, %v", job.Id, len(won), err)
	}
	return won[0]
}

// Expired makes a running job (see Running) whose lease ran out a second ago.
func (f *Factory) Expired(owner string, adjust ...func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	job := f.Running(owner, time.Minute, adjust...)
	f.ExpireLease(job.Id)
	return f.Get(job.Id)
}

// ExpireLease moves the lease of running job id a second into the past: the time travel
// that stands for a worker that stopped heartbeating.
func (f *Factory) ExpireLease(id string) {
	f.t.Helper()
	Exec(f.t, f.store.DB, "UPDATE `jobs` SET `lease_expires_at` = now(3) - interval 1 second "+
		"WHERE `id` = ? AND `status` = 'running'", id)
}

// Completed makes a running job (see Running) and finishes it with result (JSON).
func (f *Factory) Completed(result string, adjust ...func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	return f.finish(model.Outcome{Kind: model.OutcomeCompleted, Result: sql.NullString{String: result, Valid: true}}, adjust)
}

// Failed makes a running job (see Running) and fails it with errMsg.
func (f *Factory) Failed(errMsg string, adjust ...func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	return f.finish(model.Outcome{Kind: model.OutcomeFailed, Error: errMsg}, adjust)
}

func (f *Factory) finish(o model.Outcome, adjust []func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	job := f.Running("factory", time.Minute, adjust...)
	o.Id, o.Attempt = job.Id, job.Attempt
	won, err := f.store.Jobs.Finish(context.Background(), uuid.NewString(), []model.Outcome{o})
	if err != nil || !won[0] {
		f.t.Fatalf("finish job %s for the factory: won %v, %v", job.Id, won, err)
	}
	return f.Get(job.Id)
}

// Cancelled makes a pending job (see Pending) and cancels it.
func (f *Factory) Cancelled(adjust ...func(*model.Jobs)) *model.Jobs {
	f.t.Helper()
	job := f.Pending(adjust...)
	if won, err := f.store.Jobs.Cancel(context.Background(), job.Id, model.StatusPending); err != nil || !won {
		f.t.Fatalf("cancel job %s for the factory: won %v, %v", job.Id, won, err)
	}
	return f.Get(job.Id)
}

// Get reads job id as it is stored now.
func (f *Factory) Get(id string) *model.Jobs {
	f.t.Helper()
	job, err := f.store.Jobs.FindAnyTenant(context.Background(), id)
	if err != nil {
		f.t.Fatalf("read job %s: %v", id, err)
	}
	return job
}

// WithCallback gives a job a callback to url, as a start with callbackUrl does.
func WithCallback(url string) func(*model.Jobs) {
	return func(j *model.Jobs) {
		j.CallbackUrl, j.CallbackId, j.CallbackStatus = url, uuid.NewString(), model.CallbackPending
	}
}

// WithMaxAttempts allows a job n attempts.
func WithMaxAttempts(n int64) func(*model.Jobs) {
	return func(j *model.Jobs) { j.MaxAttempts = n }
}

// WithTenant makes a job tenant's.
func WithTenant(tenant string) func(*model.Jobs) {
	return func(j *model.Jobs) { j.TenantId = tenant }
}

// WithRunAt delays a job until at, stored unenqueued as a delayed start leaves it.
func WithRunAt(at time.Time) func(*model.Jobs) {
	return func(j *model.Jobs) {
		j.RunAt = sql.NullTime{Time: at.UTC(), Valid: true}
		j.EnqueuedAt = sql.NullTime{}
	}
}

// Unenqueued stores a job as not (known to be) on the stream: a start whose XADD failed.
func Unenqueued(j *model.Jobs) { j.EnqueuedAt = sql.NullTime{} }
