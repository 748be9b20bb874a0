package app_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/rediskeys"
	"jobs/internal/testutil"
)

func noWorkers(c *config.Config) { c.Worker.Concurrency = 0 }

func TestDefaultsRecoverWithin30Seconds(t *testing.T) {
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	// A killed worker's job is back once its lease runs out and the next sweep sees it.
	if worst := c.Worker.Lease + c.Recovery.Interval; worst > 30*time.Second {
		t.Errorf("lease %s + sweep interval %s = %s, want at most 30s", c.Worker.Lease, c.Recovery.Interval, worst)
	}
	if c.Worker.Heartbeat*3 > c.Worker.Lease {
		t.Errorf("heartbeat %s leaves too little margin in lease %s", c.Worker.Heartbeat, c.Worker.Lease)
	}
}

func TestKilledWorkersJobIsRetriedAfterItsLeaseExpires(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers) // API and recovery sweep in-process, workers in a child process
	api := apptest.StartApp(t, c)
	wc := c
	wc.Worker.Concurrency = 4
	worker := startProcess(t, wc, "worker")

	job := api.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 2}})
	api.WaitStatus(job.Id, "running", 15*time.Second)
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	killedAt := time.Now()

	back := api.WaitJob(job.Id, 10*time.Second, "back to pending", func(j apptest.Job) bool { return j.Status == "pending" })
	if back.Error != "worker lost" || back.Attempt != 1 {
		t.Fatalf("reaped job: %+v", back)
	}
	// Lease 1s + sweep interval 0.2s, plus scheduling slack.
	if d := time.Since(killedAt); d > 4*time.Second {
		t.Errorf("recovered %s after the kill, want within lease + sweep interval", d)
	}

	wc.Worker.Concurrency = 2
	apptest.StartApp(t, wc)
	done := api.WaitStatus(job.Id, "completed", 10*time.Second)
	if done.Attempt != 2 || done.Error != "" {
		t.Fatalf("second attempt: %+v", done)
	}
}

func TestExpiredLeaseWithoutAttemptsLeftFails(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	api := apptest.StartApp(t, c)
	job := api.StartJob(map[string]any{"functionId": "echo"})
	// As if a worker had claimed its last attempt and died.
	db := testutil.DB(t, c.MySQL.DataSource)
	testutil.Exec(t, db, "UPDATE jobs SET status = 'running', attempt = max_attempts, lease_owner = 'ghost', "+
		"started_at = NOW(3), lease_expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?", job.Id)
	failed := api.WaitStatus(job.Id, "failed", 5*time.Second)
	if failed.Error != "worker lost" || failed.FinishedAt == nil || failed.Attempt != 3 {
		t.Fatalf("exhausted job: %+v", failed)
	}
}

func TestPendingJobsSurviveRedisLosingEverything(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	rdb := testutil.Redis(t)
	pendingJobsSurviveLosingRedis(t, c, rdb, func() {
		// FLUSHALL, scoped to this test's keys so parallel tests keep theirs.
		testutil.DeleteKeys(t, rdb, c.Redis.Prefix)
	})
}

// pendingJobsSurviveLosingRedis starts jobs on an app of c without workers, waits for the
// sweeper's epoch marker in rdb, has Redis lose everything (lose), starts more, then starts
// workers and waits until every job completed. It returns the app.
func pendingJobsSurviveLosingRedis(t *testing.T, c config.Config, rdb redis.UniversalClient, lose func()) *apptest.App {
	t.Helper()
	api := apptest.StartApp(t, c)
	var ids []string
	for range 20 {
		ids = append(ids, api.StartJob(map[string]any{"functionId": "echo"}).Id)
	}
	epoch := rediskeys.New(c.Redis.Prefix).Epoch()
	if !testutil.Eventually(10*time.Second, func() bool {
		return rdb.Exists(context.Background(), epoch).Val() == 1
	}) {
		t.Fatal("the sweeper never wrote the epoch marker")
	}

	lose()
	for range 5 {
		ids = append(ids, api.StartJob(map[string]any{"functionId": "echo"}).Id)
	}
	c.Worker.Concurrency = 4
	apptest.StartApp(t, c)
	for _, id := range ids {
		api.WaitStatus(id, "completed", 15*time.Second)
	}
	return api
}

func TestSIGTERMFinishesShortJobsAndHandsBackTheRest(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	api := apptest.StartApp(t, c)
	wc := c
	wc.Worker.Concurrency = 4
	wc.Worker.ShutdownGrace = 2 * time.Second
	worker := startProcess(t, wc, "worker")

	short := api.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 1}})
	long := api.StartJob(map[string]any{"functionId": "sleep", "params": map[string]any{"seconds": 30}})
	api.WaitStatus(short.Id, "running", 15*time.Second)
	api.WaitStatus(long.Id, "running", 15*time.Second)

	if err := worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	if err := worker.Wait(); err != nil {
		t.Fatalf("worker exited with %v after SIGTERM, want 0", err)
	}
	// go-zero waits 1s before its shutdown listeners; then the 2s grace; then the hand-back.
	if d := time.Since(signalled); d > 6*time.Second {
		t.Errorf("worker took %s to stop", d)
	}

	if j := api.GetJob(short.Id); j.Status != "completed" {
		t.Errorf("short job should finish within the grace: %+v", j)
	}
	handed := api.GetJob(long.Id)
	if handed.Status != "pending" || handed.Attempt != 1 || handed.Error != "" || handed.FinishedAt != nil {
		t.Fatalf("long job not handed back: %+v", handed)
	}
	if n, err := api.Svc.Queue.Backlog(context.Background()); err != nil || n != 1 {
		t.Fatalf("handed-back job not on the stream: backlog %d, %v", n, err)
	}
}

func TestFirstWorkerStartDoesNotEnqueueTheBacklogAgain(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Role = "api" }) // no sweeper, so no epoch marker yet
	api := apptest.StartApp(t, c)
	var ids []string
	for range 30 {
		ids = append(ids, api.StartJob(map[string]any{"functionId": "echo"}).Id)
	}

	wc := c
	wc.Role = "worker"
	apptest.StartApp(t, wc)
	for _, id := range ids {
		api.WaitStatus(id, "completed", 10*time.Second)
	}
	info, err := testutil.Redis(t).XInfoStream(context.Background(), rediskeys.New(c.Redis.Prefix).Stream()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if info.EntriesAdded != int64(len(ids)) {
		t.Fatalf("%d entries were added to the stream for %d jobs: the first sweep enqueued the backlog again",
			info.EntriesAdded, len(ids))
	}
}

// A worker that is gone (idle past Recovery.ConsumerIdle with nothing pending) leaves the
// stream's consumer group; one holding an entry stays, so the entry can be taken over.
func TestGoneWorkersLeaveTheConsumerGroup(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers, func(c *config.Config) { c.Recovery.ConsumerIdle = 300 * time.Millisecond })
	ctx, rdb := context.Background(), testutil.Redis(t)
	stream := rediskeys.New(c.Redis.Prefix).Stream()
	if err := rdb.XGroupCreateMkStream(ctx, stream, "workers", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreateConsumer(ctx, stream, "workers", "gone").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"job", "01900000-0000-7000-8000-000000000000"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: "holding", Streams: []string{stream, ">"}, Count: 1}).Err(); err != nil {
		t.Fatal(err)
	}
	apptest.StartApp(t, c)
	var names []string
	if !testutil.Eventually(5*time.Second, func() bool {
		consumers, err := rdb.XInfoConsumers(ctx, stream, "workers").Result()
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, c := range consumers {
			names = append(names, c.Name)
		}
		return len(names) == 1 && names[0] == "holding"
	}) {
		t.Fatalf("consumers %v, want only the one holding an entry", names)
	}
}
