package svc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"jobs/internal/config"
)

func TestNewRedisPicksTheClientTheConfigNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf config.RedisConf
		want string
	}{
		{"Addr alone: one server", config.RedisConf{Addr: "127.0.0.1:6379"}, "*redis.Client"},
		{"Addrs with one seed: a cluster", config.RedisConf{Addr: "127.0.0.1:6379", Addrs: []string{"10.0.0.1:6379"}}, "*redis.ClusterClient"},
		{"Addrs: a cluster", config.RedisConf{Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379"}}, "*redis.ClusterClient"},
		{"MasterName with Addrs: Sentinels", config.RedisConf{MasterName: "m", Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}}, "*redis.Client"},
		{"MasterName with Addr: one Sentinel", config.RedisConf{MasterName: "m", Addr: "10.0.0.1:26379"}, "*redis.Client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.conf.Prefix = "jobs"
			rdb, err := newRedis(tc.conf)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if got := fmt.Sprintf("%T", rdb); got != tc.want {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
			// A Sentinel-backed client is a *redis.Client too: it names the master it follows.
			if c, ok := rdb.(*redis.Client); ok && tc.conf.MasterName != "" && !strings.Contains(c.String(), "FailoverClient") {
				t.Fatalf("client %s does not follow the master through Sentinels", c)
			}
		})
	}
}

func TestNewRedisRefusesWhatItCannotServe(t *testing.T) {
	for _, tc := range []struct {
		conf config.RedisConf
		want string
	}{
		{config.RedisConf{Addr: "127.0.0.1:6379", Prefix: "jobs{a}"}, "Redis.Prefix must not contain {"},
		{config.RedisConf{Addr: "127.0.0.1:6379", Prefix: ""}, "Redis.Prefix must not be empty"},
		{config.RedisConf{Addrs: []string{"10.0.0.1:6379"}, Prefix: "jobs", DB: 2}, "Redis.DB must be 0 with a Redis Cluster"},
	} {
		if _, err := newRedis(tc.conf); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.conf, err, tc.want)
		}
	}
}
