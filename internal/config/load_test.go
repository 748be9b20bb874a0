package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/config"
)

func TestCheckKeysNamesTheUnknownKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"MySQL:\n  DataSouce: x\n", "unknown config key MySQL.DataSouce (did you mean DataSource?)"},
		{"Workers:\n  Concurrency: 2\n", "unknown config key Workers (did you mean Worker?)"},
		{"Name: j\nFrobnicate: 1\n", "unknown config key Frobnicate"},
		{"Functions:\n  - Id: a\n    Kind: command\n  - Id: b\n    Command:\n      Argvv: [x]\n",
			"unknown config key Functions[1].Command.Argvv (did you mean Argv?)"},
		{"Log:\n  Levle: info\n", "unknown config key Log.Levle (did you mean Level?)"},
		{`{"Redis": {"Adr": "x"}}`, "unknown config key Redis.Adr (did you mean Addr?)"},
	} {
		err := config.CheckKeys(".yaml", []byte(tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.yaml, err, tc.want)
		}
	}
}

func TestCheckKeysTakesWhatGoZeroTakes(t *testing.T) {
	t.Parallel()
	shipped, err := os.ReadFile("../../etc/jobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, yaml := range []string{
		string(shipped),
		"mysql:\n  datasource: x\n", // go-zero matches keys case-insensitively
		"Middlewares:\n  Trace: false\nTelemetry:\n  Name: j\nDevServer:\n  Enabled: false\n", // rest.RestConf's own
		"Functions:\n  - Id: a\n    Command:\n      Env: {ANY_NAME: x}\n    HTTP:\n      Headers: {X-Any: y}\n",
		"Cors:\n  AllowOrigins: [a, b]\n",
		"Redis:\n  Addrs: [a:6379, b:6379]\n",
		"Redis:\n  MasterName: m\n  Addrs: [a:26379]\n  SentinelPassword: p\n",
	} {
		if err := config.CheckKeys(".yml", []byte(yaml)); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
	if err := config.CheckKeys(".toml", []byte("Anything = 1")); err != nil {
		t.Errorf("TOML is not checked, yet: %v", err)
	}
}

func TestDevSecretsAreTheDefaultsAndWarned(t *testing.T) {
	t.Parallel()
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	if c.Auth.AccessSecret != config.DevAccessSecret || c.Callbacks.Secret != config.DevCallbackSecret {
		t.Fatalf("defaults %q and %q are not the development secrets", c.Auth.AccessSecret, c.Callbacks.Secret)
	}
	if w := c.DevSecretWarnings(); len(w) != 2 || !strings.HasPrefix(w[0], "Auth.AccessSecret") || !strings.HasPrefix(w[1], "Callbacks.Secret") {
		t.Errorf("warnings: %q", w)
	}
	c.Auth.AccessSecret, c.Callbacks.Secret = "a-secret-of-our-own", "another-one"
	if w := c.DevSecretWarnings(); len(w) != 0 {
		t.Errorf("warnings with secrets of our own: %q", w)
	}
}

func TestRedisClusterAndSentinelKeysLoad(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/jobs.yaml"
	yaml := "Name: j\nHost: 127.0.0.1\nPort: 8888\nRedis:\n  MasterName: mymaster\n  Addrs: [s1:26379, s2:26379]\n  SentinelPassword: p\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var c config.Config
	if err := config.Load(file, &c); err != nil {
		t.Fatal(err)
	}
	if c.Redis.MasterName != "mymaster" || strings.Join(c.Redis.Addrs, ",") != "s1:26379,s2:26379" ||
		c.Redis.SentinelPassword != "p" || c.Redis.Addr != "127.0.0.1:6379" {
		t.Fatalf("loaded %+v", c.Redis)
	}
}
