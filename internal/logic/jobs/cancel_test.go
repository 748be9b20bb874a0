package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/auth"
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

			reqCtx, hangUp := context.WithCancel(auth.WithIdentity(ctx, auth.Identity{Tenant: job.TenantId, Actor: "tester"}))
			defer hangUp()
			s.Jobs = hangUpAfterCommit{JobsModel: s.Jobs, hangUp: hangUp}
			err = tc.cancel(reqCtx, s, job.Id)
			t.Logf("cancel answered %v", err)

			if got := factory.Get(job.Id).Status; got != string(model.StatusCancelled) {
				t.Fatalf("job is %s, want cancelled", got)
			}
			waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			msg, err := signals.ReceiveMessage(waitCtx)
			if err != nil {
				t.Fatalf("no cancel signal for the running job's worker: %v", err)
			}
			if msg.Payload != job.Id {
				t.Fatalf("cancel signal for %s, want %s", msg.Payload, job.Id)
			}
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

	reqCtx := auth.WithIdentity(ctx, auth.Identity{Tenant: job.TenantId, Actor: "tester"})
	s.Jobs = &rereadFails{JobsModel: s.Jobs}
	if _, err := jobs.NewCancelJobLogic(reqCtx, s).CancelJob(&types.JobIdReq{Id: job.Id}); err == nil {
		t.Fatal("the cancel answered no error although its re-read failed")
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if msg, err := signals.ReceiveMessage(waitCtx); err != nil || msg.Payload != job.Id {
		t.Fatalf("no cancel signal for the running job's worker: %v %v", msg, err)
	}
}
