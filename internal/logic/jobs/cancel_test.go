package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"jobs/internal/apptest"
	"jobs/internal/auth"
	"jobs/internal/events"
	"jobs/internal/logic/jobs"
	"jobs/internal/svc"
	"jobs/internal/testutil"
	"jobs/internal/types"
	"jobs/model"
)

// hangUpAfterCommit is the real jobs model whose cancels, once committed, cancel the
// request's context: a client that hangs up (or a route timeout) right after the commit.
type hangUpAfterCommit struct {
	model.JobsModel
	hangUp context.CancelFunc
}

func (m hangUpAfterCommit) Cancel(ctx context.Context, id string, from model.Status) (bool, error) {
	defer m.hangUp()
	return m.JobsModel.Cancel(ctx, id, from)
}

func (m hangUpAfterCommit) CancelMany(ctx context.Context, ids []string) ([]model.Cancelled, error) {
	defer m.hangUp()
	return m.JobsModel.CancelMany(ctx, ids)
}

// cancelFixture is a service context of its own, a job running on "worker-1", a request
// context of its tenant, and a subscription to the workers' cancel signals.
type cancelFixture struct {
	svc     *svc.ServiceContext
	factory *testutil.Factory
	job     *model.Jobs
	request context.Context
	signals *redis.PubSub
}

func startCancelFixture(t *testing.T) *cancelFixture {
	t.Helper()
	c := apptest.Config(t)
	s, err := svc.NewServiceContext(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	factory := testutil.NewFactory(t, &testutil.Store{Jobs: s.Jobs, DB: s.MySQL(), DSN: c.MySQL.DataSource})
	job := factory.Running("worker-1", time.Minute)
	signals := s.Queue.SubscribeCancels(ctx)
	t.Cleanup(func() { signals.Close() })
	if _, err := signals.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	return &cancelFixture{svc: s, factory: factory, job: job, signals: signals,
		request: auth.WithIdentity(ctx, auth.Identity{Tenant: job.TenantId, Actor: "tester"})}
}

// expectSignal fails t unless the job's cancel signal reaches the workers within 2 s.
func (f *cancelFixture) expectSignal(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	msg, err := f.signals.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("no cancel signal for the running job's worker: %v", err)
	}
	if msg.Payload != f.job.Id {
		t.Fatalf("cancel signal for %s, want %s", msg.Payload, f.job.Id)
	}
}

// A cancel that committed is followed through whatever the client does: the running job's
// worker is told to stop it and the tenant's event stream hears of it. Before, a client that
// hung up right after the commit left the function running until its worker's next
// heartbeat, and the tenant's clients never saw the job cancelled.
func TestACancelWhoseClientHangsUpAfterItsCommitIsStillAnnounced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cancel func(ctx context.Context, s *svc.ServiceContext, id string) error
	}{
		{"single", func(ctx context.Context, s *svc.ServiceContext, id string) error {
			_, err := jobs.NewCancelJobLogic(ctx, s).CancelJob(&types.JobIdReq{Id: id})
			return err
		}},
		{"bulk", func(ctx context.Context, s *svc.ServiceContext, id string) error {
			_, err := jobs.NewBulkCancelJobsLogic(ctx, s).BulkCancelJobs(&types.BulkReq{Ids: []string{id}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startCancelFixture(t)
			ctx, s, job := context.Background(), f.svc, f.job

			reqCtx, hangUp := context.WithCancel(f.request)
			defer hangUp()
			s.Jobs = hangUpAfterCommit{JobsModel: s.Jobs, hangUp: hangUp}
			err := tc.cancel(reqCtx, s, job.Id)
			t.Logf("cancel answered %v", err)

			if got := f.factory.Get(job.Id).Status; got != string(model.StatusCancelled) {
				t.Fatalf("job is %s, want cancelled", got)
			}
			f.expectSignal(t)
			evs, _, err := s.Events.TenantRange(ctx, job.TenantId, 0, 1<<62)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if strings.Contains(string(ev.Data), job.Id) && strings.Contains(string(ev.Data), `"status":"cancelled"`) {
					return
				}
			}
			t.Fatalf("the tenant's events never say job %s was cancelled: %d events", job.Id, len(evs))
		})
	}
}

// rereadFails is the real jobs model whose reads by tenant fail once a cancel committed:
// MySQL drops between the cancel and its re-read.
type rereadFails struct {
	model.JobsModel
	cancelled bool
}

func (m *rereadFails) Cancel(ctx context.Context, id string, from model.Status) (bool, error) {
	won, err := m.JobsModel.Cancel(ctx, id, from)
	m.cancelled = m.cancelled || won
	return won, err
}

func (m *rereadFails) FindForTenant(ctx context.Context, tenant, id string) (*model.Jobs, error) {
	if m.cancelled {
		return nil, errors.New("injected: connection reset")
	}
	return m.JobsModel.FindForTenant(ctx, tenant, id)
}

// A cancel whose re-read fails after its commit answers the error, but the running job's
// worker is still told to stop: before, it ran until its worker's next heartbeat.
func TestACancelWhoseRereadFailsStillSignalsTheWorker(t *testing.T) {
	t.Parallel()
	f := startCancelFixture(t)
	f.svc.Jobs = &rereadFails{JobsModel: f.svc.Jobs}
	if _, err := jobs.NewCancelJobLogic(f.request, f.svc).CancelJob(&types.JobIdReq{Id: f.job.Id}); err == nil {
		t.Fatal("the cancel answered no error although its re-read failed")
	}
	f.expectSignal(t)
}

// claimedFirst is the real jobs model in which a worker claims the jobs a bulk cancel read
// just before its CancelMany locks them.
type claimedFirst struct{ model.JobsModel }

func (m claimedFirst) CancelMany(ctx context.Context, ids []string) ([]model.Cancelled, error) {
	if _, err := m.JobsModel.Claim(ctx, ids, "worker-2", uuid.NewString(), time.Minute); err != nil {
		return nil, err
	}
	return m.JobsModel.CancelMany(ctx, ids)
}

// A bulk cancel announces the attempt and error the job had when it was cancelled, not those
// it read before: a retry claimed in between is attempt 2, its previous error cleared.
func TestBulkCancelAnnouncesTheJobAsItWasCancelled(t *testing.T) {
	t.Parallel()
	f := startCancelFixture(t)
	job := f.factory.Pending(func(j *model.Jobs) { j.Attempt, j.MaxAttempts, j.Error = 1, 3, "first try failed" })
	f.svc.Jobs = claimedFirst{f.svc.Jobs}
	if _, err := jobs.NewBulkCancelJobsLogic(f.request, f.svc).BulkCancelJobs(&types.BulkReq{Ids: []string{job.Id}}); err != nil {
		t.Fatal(err)
	}
	if got := f.factory.Get(job.Id); got.Status != string(model.StatusCancelled) || got.Attempt != 2 {
		t.Fatalf("job is %s at attempt %d, want cancelled at attempt 2", got.Status, got.Attempt)
	}
	evs, err := f.svc.Events.Range(context.Background(), job.Id, 0, 1<<62)
	if err != nil || len(evs) == 0 || evs[0].Name != events.Status {
		t.Fatalf("the job's events: %v, %v", evs, err)
	}
	if want := `{"status":"cancelled","attempt":2,"error":""}`; string(evs[0].Data) != want {
		t.Fatalf("the cancel announced %s, want %s", evs[0].Data, want)
	}
}
