package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis servers a test starts itself (a cluster, a Sentinel) listen on ports of
// TEST_REDIS_PORTS, by default 7101-7120, taken three at a time; a lock file per block keeps
// the test binaries of parallel packages apart. A cluster node also listens on its port +
// 10000 (the cluster bus).
const defaultRedisPorts = "7101-7120"

// RedisCluster is a Redis Cluster of three masters (no replicas) on ports of its own, in a
// temporary directory, stopped when the test ends.
type RedisCluster struct {
	// Addrs are the nodes' addresses: what Redis.Addrs takes.
	Addrs []string
	// Client talks to the cluster.
	Client *redis.ClusterClient
	stops  []func()
}

// StopNode stops the node at Addrs[i], as a crash would.
func (rc *RedisCluster) StopNode(i int) { rc.stops[i]() }

// StartRedisCluster starts three redis-server --cluster-enabled nodes and joins them with
// redis-cli --cluster create. It skips the test if redis-server or redis-cli is missing.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	needRedisBinaries(t, "redis-server", "redis-cli")
	dir := t.TempDir()
	ports := reserveRedisPorts(t)
	var addrs []string
	var stops []func()
	for _, port := range ports {
		stops = append(stops, startRedisServer(t, dir, port, "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port), "--cluster-node-timeout", "2000"))
		addrs = append(addrs, redisAddr(port))
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		waitRedis(t, addr, "cluster_state:ok", func(ctx context.Context, rdb *redis.Client) (string, error) {
			return rdb.ClusterInfo(ctx).Result()
		})
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { client.Close() })
	// Every node must know every slot's owner before the test's first command.
	if !Eventually(10*time.Second, func() bool {
		return client.ForEachShard(context.Background(), func(ctx context.Context, shard *redis.Client) error {
			slots, err := shard.ClusterSlots(ctx).Result()
			if err == nil && len(slots) != len(addrs) {
				err = fmt.Errorf("%d slot ranges", len(slots))
			}
			return err
		}) == nil
	}) {
		t.Fatalf("the Redis Cluster at %v never agreed on its slots", addrs)
	}
	return &RedisCluster{Addrs: addrs, Client: client, stops: stops}
}

// FlushAll empties every node: what a cluster that lost its data looks like.
func (rc *RedisCluster) FlushAll(t testing.TB) {
	t.Helper()
	if err := rc.Client.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		return node.FlushAll(ctx).Err()
	}); err != nil {
		t.Fatalf("flush the Redis Cluster: %v", err)
	}
}

// RedisSentinel is a Redis master with one replica, watched by one Sentinel, on ports of
// their own, stopped when the test ends.
type RedisSentinel struct {
	// MasterName is the name the Sentinel knows the master by: what Redis.MasterName takes.
	MasterName string
	// SentinelAddr is the Sentinel's address: what Redis.Addrs takes with MasterName.
	SentinelAddr string
	// MasterAddr is the master's address, ReplicaAddr its replica's; Failover swaps them.
	MasterAddr, ReplicaAddr string
}

// StartRedisSentinel starts a redis-server, a replica of it and a Sentinel monitoring
// them, and waits until the Sentinel knows the replica. It skips the test if redis-server
// is missing.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	needRedisBinaries(t, "redis-server")
	dir := t.TempDir()
	ports := reserveRedisPorts(t)
	master, replica, sentinel := ports[0], ports[1], ports[2]
	startRedisServer(t, dir, master)
	startRedisServer(t, dir, replica, "--replicaof", "127.0.0.1", strconv.Itoa(master))
	rs := &RedisSentinel{MasterName: "jobs-test", SentinelAddr: redisAddr(sentinel),
		MasterAddr: redisAddr(master), ReplicaAddr: redisAddr(replica)}
	// A Sentinel rewrites its config file, so it needs one of its own.
	conf := filepath.Join(dir, "sentinel.conf")
	content := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %[3]s 2000\nsentinel failover-timeout %[3]s 10000\n"+
		"sentinel known-replica %[3]s 127.0.0.1 %[5]d\n",
		sentinel, dir, rs.MasterName, master, replica)
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	startRedisProcess(t, dir, sentinel, conf, "--sentinel")
	// known-replica spares the Sentinel learning of the replica from the master's INFO
	// (every 10 s); a failover needs the replica to be in sync with the master too.
	waitRedis(t, rs.SentinelAddr, rs.ReplicaAddr, func(ctx context.Context, rdb *redis.Client) (string, error) {
		replicas, err := rdb.Do(ctx, "SENTINEL", "replicas", rs.MasterName).Slice()
		return fmt.Sprint(replicas), err
	})
	return rs
}

// Failover asks the Sentinel to promote the replica, waits until the replica is the master
// the Sentinel names, and swaps MasterAddr and ReplicaAddr. (The Sentinel turns the old
// master into a replica some 10 s later.)
func (rs *RedisSentinel) Failover(t testing.TB) {
	t.Helper()
	sentinel := redis.NewClient(&redis.Options{Addr: rs.SentinelAddr})
	defer sentinel.Close()
	if err := sentinel.Do(context.Background(), "SENTINEL", "failover", rs.MasterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitRedis(t, rs.SentinelAddr, rs.ReplicaAddr, func(ctx context.Context, rdb *redis.Client) (string, error) {
		addr, err := rdb.Do(ctx, "SENTINEL", "get-master-addr-by-name", rs.MasterName).StringSlice()
		return strings.Join(addr, ":"), err
	})
	waitRedis(t, rs.ReplicaAddr, "role:master", func(ctx context.Context, rdb *redis.Client) (string, error) {
		return rdb.Info(ctx, "replication").Result()
	})
	rs.MasterAddr, rs.ReplicaAddr = rs.ReplicaAddr, rs.MasterAddr
}

func needRedisBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed, so this test cannot start Redis servers of its own "+
				"(Debian: apt-get install redis-server)", name)
		}
	}
}

func redisAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// startRedisServer starts a redis-server on port with data in dir (no persistence), waits
// until it answers, and returns a function that kills it.
func startRedisServer(t testing.TB, dir string, port int, args ...string) func() {
	t.Helper()
	return startRedisProcess(t, dir, port, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no",
		"--dbfilename", fmt.Sprintf("dump-%d.rdb", port)}, args...)...)
}

// startRedisProcess runs redis-server with args, logging to dir, until the test ends (or
// the function it returns kills it), and waits until port answers PING.
func startRedisProcess(t testing.TB, dir string, port int, args ...string) func() {
	t.Helper()
	logPath := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
	cmd := exec.Command("redis-server", append(args, "--logfile", logPath)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server on port %d: %v", port, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(func() {
		kill()
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				t.Logf("redis-server on port %d logged:\n%s", port, lastLines(string(log), 10))
			}
		}
	})
	waitRedis(t, redisAddr(port), "PONG", func(ctx context.Context, rdb *redis.Client) (string, error) {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("redis-server on port %d exited: %s", port, lastLines(string(log), 10))
		default:
		}
		return rdb.Ping(ctx).Result()
	})
	return kill
}

// waitRedis waits until read's answer from addr contains want.
func waitRedis(t testing.TB, addr, want string, read func(context.Context, *redis.Client) (string, error)) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	var got string
	var err error
	if !Eventually(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		got, err = read(ctx, rdb)
		return err == nil && strings.Contains(got, want)
	}) {
		t.Fatalf("Redis at %s: want an answer with %q, last got %q, %v", addr, want, got, err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// reserveRedisPorts returns three ports of TEST_REDIS_PORTS that no other test holds and
// that are free, with their cluster bus ports, until the test ends.
func reserveRedisPorts(t testing.TB) []int {
	t.Helper()
	spec := os.Getenv("TEST_REDIS_PORTS")
	if spec == "" {
		spec = defaultRedisPorts
	}
	from, to, err := parsePortRange(spec)
	if err != nil {
		t.Fatalf("TEST_REDIS_PORTS: %v", err)
	}
	var ports []int
	if !Eventually(2*time.Minute, func() bool {
		for base := from; base+2 <= to; base += 3 {
			if ports = tryReservePorts(t, base, 3); ports != nil {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no three free ports in %s (TEST_REDIS_PORTS) for Redis servers of this test", spec)
	}
	return ports
}

func parsePortRange(spec string) (int, int, error) {
	a, b, ok := strings.Cut(spec, "-")
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || from < 1 || to > 55535 || to-from < 2 {
		return 0, 0, fmt.Errorf("%q is not a range of at least three ports such as %s", spec, defaultRedisPorts)
	}
	return from, to, nil
}

// tryReservePorts locks the block of n ports at base and checks they (and their cluster bus
// ports) are free; it returns nil if another test holds the block or a port is taken.
func tryReservePorts(t testing.TB, base, n int) []int {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("jobs-test-redis-ports-%d.lock", base)),
		os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil
	}
	var ports []int
	for port := base; port < base+n; port++ {
		for _, p := range []int{port, port + 10000} {
			l, err := net.Listen("tcp", redisAddr(p))
			if err != nil {
				lock.Close()
				return nil
			}
			l.Close()
		}
		ports = append(ports, port)
	}
	t.Cleanup(func() { lock.Close() }) // after the servers stop: cleanups run last-in first-out
	return ports
}
