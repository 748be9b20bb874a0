package app_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

// steadyLeases gives workers leases that a loaded machine does not let expire: these tests
// are about Redis, not about lost workers (the test config's 1 s lease is for those).
func steadyLeases(c *config.Config) {
	c.Worker.Lease = 10 * time.Second
	c.Worker.Heartbeat = time.Second
}

// The service on a Redis Cluster of three nodes (Redis.Addrs): every script, transaction
// and pipeline it sends must stay within one hash slot, or the cluster refuses it
// (CROSSSLOT) and these tests fail.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	rc := testutil.StartRedisCluster(t)
	c := apptest.Config(t, steadyLeases, func(c *config.Config) { c.Redis.Addrs = rc.Addrs })
	began, stopped := make(chan struct{}), make(chan struct{})
	waitForCancel := testFunction("wait-for-cancel", 1, time.Minute, func(ctx context.Context, _ functions.Call, _ functions.Reporter) (any, error) {
		close(began)
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	})
	a := apptest.StartApp(t, c, waitForCancel)
	ctx := context.Background()
	keys := rediskeys.New(c.Redis.Prefix)

	t.Run("start and run", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "echo", "params": map[string]any{"n": 7}})
		done := a.WaitStatus(job.Id, "completed", 15*time.Second)
		if string(done.Result) != `{"n":7}` || done.Attempt != 1 {
			t.Fatalf("completed job: %+v", done)
		}
		var ids []string
		for i := range 20 {
			ids = append(ids, a.StartJob(map[string]any{"functionId": "echo", "params": map[string]any{"i": i}}).Id)
		}
		for _, id := range ids {
			a.WaitStatus(id, "completed", 15*time.Second)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "wait-for-cancel"})
		// Running from the claim on, but a job cancelled before its function is called never
		// calls it: wait for the call, which is what the cancel must stop.
		select {
		case <-began:
		case <-time.After(15 * time.Second):
			t.Fatal("the function was not called within 15s of the start")
		}
		s := a.OpenStream(job.Id, "")
		var cancelled apptest.Job
		a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, &cancelled)
		if cancelled.Status != "cancelled" {
			t.Fatalf("cancel answered %+v", cancelled)
		}
		// The worker hears of it over the cluster's pub/sub and stops the function.
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("the function was not stopped within 10s of the cancel")
		}
		evs := s.Collect(t, 10*time.Second)
		if done := decode[apptest.Job](t, evs[len(evs)-1].Data); done.Status != "cancelled" {
			t.Fatalf("stream of a cancelled job ends with %s", evs[len(evs)-1].Data)
		}
	})

	t.Run("stream resumes with Last-Event-ID", func(t *testing.T) {
		job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3}})
		first := a.OpenStream(job.Id, "")
		var seen []testutil.Event
		for len(seen) < 3 { // the snapshot and two live events
			ev, err := first.Next(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, ev)
		}
		first.Close()
		lastID := seen[len(seen)-1].ID
		rest := a.OpenStream(job.Id, strconv.FormatInt(lastID, 10)).Collect(t, 10*time.Second)
		if rest[0].Name != "snapshot" || rest[0].ID != lastID {
			t.Fatalf("resume starts with %+v, want a snapshot numbered %d", rest[0], lastID)
		}
		for i, ev := range rest[1:] {
			if ev.ID != lastID+int64(i)+1 {
				t.Fatalf("resumed events %v do not follow %d one by one", testutil.EventNames(rest), lastID)
			}
		}
		if done := decode[apptest.Job](t, rest[len(rest)-1].Data); done.Status != "completed" || string(done.Result) != `{"slept":3}` {
			t.Fatalf("done event: %s", rest[len(rest)-1].Data)
		}
	})

	t.Run("tenant events", func(t *testing.T) {
		s := a.OpenStreamAt("/api/v1/events", "")
		if ev, reset := nextEvent(t, s); ev.Name != "reset" || reset.Reason != "new" {
			t.Fatalf("first event %s %s, want reset (new)", ev.Name, ev.Data)
		}
		job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
		evs := untilStatus(t, s, job.Id, "completed")
		// Only this job's: the tenant's stream may still carry the end of an earlier subtest's
		// job, whose job stream (another slot, maybe another node) was heard first.
		var statuses []string
		for _, ev := range evs {
			if e := decode[tenantEvent](t, ev.Data); ev.Name == "status" && e.ID == job.Id {
				statuses = append(statuses, e.Status)
			}
		}
		if len(statuses) != 3 || statuses[0] != "pending" || statuses[1] != "running" {
			t.Fatalf("the tenant heard statuses %v, want pending, running, completed", statuses)
		}
		checkIncreasing(t, evs)
	})

	t.Run("keys of one owner share a slot", func(t *testing.T) {
		for owner, group := range map[string][]string{
			"queue":  {keys.Stream(), keys.Epoch(), keys.StaleCheck()},
			"job":    {keys.JobEventLog("j1"), keys.JobEventSeq("j1"), keys.JobDone("j1")},
			"tenant": {keys.TenantEventLog(apptest.DefaultTenant), keys.TenantEventSeq(apptest.DefaultTenant)},
		} {
			var slots []int64
			for _, key := range group {
				slot, err := rc.Client.ClusterKeySlot(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				slots = append(slots, slot)
			}
			for _, slot := range slots[1:] {
				if slot != slots[0] {
					t.Errorf("the %s's keys %v are in slots %v, want one", owner, group, slots)
				}
			}
		}
		if n, err := rc.Client.Exists(ctx, keys.Epoch()).Result(); err != nil || n != 1 {
			t.Fatalf("the epoch marker is missing (%d, %v)", n, err)
		}
	})

	// Last: it takes the cluster down.
	t.Run("not ready while the cluster is down", func(t *testing.T) {
		if status, body := readyz(t, a); status != http.StatusOK {
			t.Fatalf("/readyz with the cluster up: %d %s", status, body)
		}
		// Every node answers PING still; keyed commands get CLUSTERDOWN once the others
		// have marked the stopped node failed (cluster-node-timeout).
		rc.StopNode(0)
		var status int
		var body string
		if !testutil.Eventually(20*time.Second, func() bool {
			status, body = readyz(t, a)
			return status == http.StatusServiceUnavailable
		}) {
			t.Fatalf("/readyz with a node of three down: %d %s", status, body)
		}
		if !strings.Contains(body, "redis") {
			t.Fatalf("/readyz does not name Redis: %s", body)
		}
		// And it stays so: a PING would reach a live node most of the time and pass.
		for range 3 {
			time.Sleep(1100 * time.Millisecond) // past the probe's cache (readyCacheFor)
			if status, body = readyz(t, a); status != http.StatusServiceUnavailable {
				t.Fatalf("/readyz with a node of three down: %d %s", status, body)
			}
		}
	})
}

// readyz asks the app's readiness probe.
func readyz(t *testing.T, a *apptest.App) (int, string) {
	t.Helper()
	res := a.Do(http.MethodGet, "/readyz", nil)
	return res.Status, string(res.Body)
}

// Pending jobs survive a Redis Cluster losing its data: every node's, or only that of the
// node holding the work stream. The sweeper sees the epoch marker gone (it lives in the
// stream's slot, so it is lost with it) and enqueues them again.
func TestRedisClusterLosingDataLosesNoJob(t *testing.T) {
	t.Parallel()
	rc := testutil.StartRedisCluster(t)
	t.Run("every node flushed", func(t *testing.T) {
		c := apptest.Config(t, noWorkers, steadyLeases, func(c *config.Config) { c.Redis.Addrs = rc.Addrs })
		api := pendingJobsSurviveLosingRedis(t, c, rc.Client, func() { rc.FlushAll(t) })
		// Streams still work: the API's subscriptions outlived the flush.
		job := api.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
		evs := api.OpenStream(job.Id, "").Collect(t, 10*time.Second)
		if done := decode[apptest.Job](t, evs[len(evs)-1].Data); done.Status != "completed" {
			t.Fatalf("stream after the flush ends with %s", evs[len(evs)-1].Data)
		}
	})
	t.Run("only the stream's node flushed", func(t *testing.T) {
		c := apptest.Config(t, noWorkers, steadyLeases, func(c *config.Config) { c.Redis.Addrs = rc.Addrs })
		pendingJobsSurviveLosingRedis(t, c, rc.Client, func() {
			ctx := context.Background()
			node, err := rc.Client.MasterForKey(ctx, rediskeys.New(c.Redis.Prefix).Stream())
			if err != nil {
				t.Fatal(err)
			}
			if err := node.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// The service follows a master through a Sentinel (Redis.MasterName with the Sentinels in
// Redis.Addrs), across a failover: a job running and streamed during it completes, and jobs
// started after it run on the new master.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	rs := testutil.StartRedisSentinel(t)
	c := apptest.Config(t, steadyLeases, func(c *config.Config) {
		c.Redis.MasterName = rs.MasterName
		c.Redis.Addrs = []string{rs.SentinelAddr}
	})
	a := apptest.StartApp(t, c)
	job := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 3}})
	s := a.OpenStream(job.Id, "")
	if ev, err := s.Next(10 * time.Second); err != nil || ev.Name != "snapshot" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	a.WaitStatus(job.Id, "running", 15*time.Second)

	rs.Failover(t)
	evs := s.Collect(t, 15*time.Second)
	if done := decode[apptest.Job](t, evs[len(evs)-1].Data); done.Status != "completed" {
		t.Fatalf("the stream across the failover ends with %s", evs[len(evs)-1].Data)
	}
	checkIncreasing(t, evs)

	after := a.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
	evs = a.OpenStream(after.Id, "").Collect(t, 15*time.Second)
	if done := decode[apptest.Job](t, evs[len(evs)-1].Data); done.Status != "completed" {
		t.Fatalf("a job started after the failover: its stream ends with %s", evs[len(evs)-1].Data)
	}
	// The work went through the master the Sentinel promoted.
	master := redis.NewClient(&redis.Options{Addr: rs.MasterAddr})
	defer master.Close()
	if role, err := master.Do(context.Background(), "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
		t.Fatalf("%s is not the master: %v %v", rs.MasterAddr, role, err)
	}
	if n, err := master.Exists(context.Background(), rediskeys.New(c.Redis.Prefix).Stream()).Result(); err != nil || n != 1 {
		t.Fatalf("the new master at %s has no work stream (%d, %v)", rs.MasterAddr, n, err)
	}
}
