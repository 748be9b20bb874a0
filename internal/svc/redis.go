package svc

import (
	"errors"

	"github.com/redis/go-redis/v9"

	"jobs/internal/config"
	"jobs/internal/queue"
	"jobs/internal/rediskeys"
)

// newRedis returns a client of the Redis c names: a master found through Sentinels when
// MasterName is set (at Addrs, else Addr), a Redis Cluster when Addrs is set, else the
// single server at Addr. Its errors that mean Redis cannot serve are typed outages
// (queue.TypeOutages). It refuses a config it cannot serve: a Prefix with braces, a DB
// other than 0 on a cluster.
func newRedis(c config.RedisConf) (redis.UniversalClient, error) {
	if err := rediskeys.CheckPrefix(c.Prefix); err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{Addrs: c.Addrs, MasterName: c.MasterName, Password: c.Password,
		SentinelPassword: c.SentinelPassword, DB: c.DB}
	switch {
	case c.MasterName != "":
		if len(opts.Addrs) == 0 {
			opts.Addrs = []string{c.Addr}
		}
	case len(c.Addrs) > 0:
		// One seed node is a cluster too (go-redis would take it for a single server).
		opts.IsClusterMode = true
		if c.DB != 0 {
			return nil, errors.New("Redis.DB must be 0 with a Redis Cluster (Redis.Addrs): a cluster has no other database")
		}
	default:
		opts.Addrs = []string{c.Addr}
	}
	rdb := redis.NewUniversalClient(opts)
	queue.TypeOutages(rdb)
	return rdb, nil
}
