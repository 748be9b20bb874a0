package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/config"
)

// defaults returns the config an empty file gives, as a development process with secrets
// of its own.
func defaults(t *testing.T) config.Config {
	t.Helper()
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	c.Mode = "dev"
	return c
}

func TestCheckTakesTheDefaultsAndTheShippedConfig(t *testing.T) {
	t.Parallel()
	if err := defaults(t).Check(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	var shipped config.Config
	if err := config.Load("../../etc/jobs.yaml", &shipped); err != nil {
		t.Fatal(err)
	}
	if err := shipped.Check(); err != nil {
		t.Errorf("etc/jobs.yaml: %v", err)
	}
}

func TestCheckNamesTheKeysOfEachBrokenRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
		want   []string
	}{
		{"heartbeat near the lease", func(c *config.Config) { c.Worker.Heartbeat, c.Worker.Lease = 8*time.Second, 20*time.Second },
			[]string{"Worker.Heartbeat (8s) must be at most a third of Worker.Lease (20s)"}},
		{"no heartbeat", func(c *config.Config) { c.Worker.Heartbeat = 0 }, []string{"Worker.Heartbeat must be positive"}},
		{"no grace for unknown functions", func(c *config.Config) { c.Worker.UnknownFunctionGrace = 0 },
			[]string{"Worker.UnknownFunctionGrace must be positive, not 0s"}},
		{"no scheduler interval", func(c *config.Config) { c.Scheduler.Interval = 0 }, []string{"Scheduler.Interval must be positive"}},
		{"no retention interval", func(c *config.Config) { c.Retention.Interval = 0 }, []string{"Retention.Interval must be positive"}},
		// A negative age kept jobs forever, which only 0s is documented to do.
		{"negative retention", func(c *config.Config) { c.Retention.Failed = -time.Hour },
			[]string{"Retention.Failed must not be negative (0s keeps jobs forever), not -1h0m0s"}},
		{"late grace under the scheduler interval", func(c *config.Config) { c.Scheduler.Interval = time.Minute },
			[]string{"Scheduler.LateGrace (5s) must be at least Scheduler.Interval (1m0s)"}},
		{"claim-idle within the read block", func(c *config.Config) { c.Worker.ClaimIdle = 500 * time.Millisecond },
			[]string{"Worker.ClaimIdle (500ms) must be above the worker's read block (500ms)"}},
		{"done kept longer than running", func(c *config.Config) { c.Events.RetainDone = 48 * time.Hour },
			[]string{"Events.RetainDone (48h0m0s) must be at most Events.Retain (24h0m0s)"}},
		{"ping too rare", func(c *config.Config) { c.Events.PingInterval = 20 * time.Second },
			[]string{"Events.PingInterval (20s) must be at most 15s"}},
		{"params over one statement", func(c *config.Config) { c.Limits.MaxParamsBytes, c.MaxBytes = 16<<20-1, 32<<20 },
			[]string{"Limits.MaxParamsBytes (16777215) must be at most 4194304 (4 MiB)"}},
		{"params over the body limit", func(c *config.Config) { c.Limits.MaxParamsBytes = 2 << 20 },
			[]string{"Limits.MaxParamsBytes (2097152) must be under MaxBytes (1048576)"}},
		{"backoffs upside down", func(c *config.Config) {
			c.Retry.MaxBackoff, c.Callbacks.MaxBackoff = time.Millisecond, time.Millisecond
		},
			[]string{"Retry.MaxBackoff (1ms) must be at least Retry.Backoff (1s)", "Callbacks.MaxBackoff (1ms) must be at least Callbacks.Backoff (2s)"}},
		{"short secret", func(c *config.Config) { c.Auth.AccessSecret = "short" }, []string{"Auth.AccessSecret must be at least 8 characters"}},
		// An empty key signs every callback with a signature anyone can compute.
		{"no callback secret", func(c *config.Config) { c.Callbacks.Secret = "" }, []string{"Callbacks.Secret must be at least 8 characters"}},
		{"no role", func(c *config.Config) { c.Role = "cook" }, []string{`Role must be api, worker or all, not "cook"`}},
		{"no sweeps", func(c *config.Config) { c.Recovery.Interval = 0 }, []string{"Recovery.Interval must be positive"}},
		{"negative drain delay", func(c *config.Config) { c.Shutdown.DrainDelay = -time.Second },
			[]string{"Shutdown.DrainDelay must not be negative, not -1s"}},
	} {
		c := defaults(t)
		tc.mutate(&c)
		err := c.Check()
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want it to say %q", tc.name, err, want)
			}
		}
		if got := len(strings.Split(err.Error(), "\n")); got != len(tc.want) {
			t.Errorf("%s: %d problems reported, want %d: %v", tc.name, got, len(tc.want), err)
		}
	}
}

func TestProductionRefusesTheDevelopmentSecrets(t *testing.T) {
	t.Parallel()
	var c config.Config
	if err := conf.FillDefault(&c); err != nil {
		t.Fatal(err)
	}
	if !c.Production() {
		t.Fatalf("Mode %q by default: go-zero's default is pro, which is production", c.Mode)
	}
	err := c.Check()
	for _, want := range []string{
		"Auth.AccessSecret is the development secret and Mode is pro (production): set your own (JOBS_ACCESS_SECRET), or Mode: dev",
		"Callbacks.Secret is the development secret and Mode is pro (production): set your own (JOBS_CALLBACK_SECRET), or Mode: dev",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("production on the development secrets: %v, want %q", err, want)
		}
	}
	c.Callbacks.Secret = "a-secret-of-our-own"
	if err := c.Check(); err == nil || strings.Contains(err.Error(), "Callbacks.Secret") || !strings.Contains(err.Error(), "Auth.AccessSecret") {
		t.Errorf("production with only the callback secret replaced: %v", err)
	}
	c.Auth.AccessSecret = "another-secret-of-our-own"
	if err := c.Check(); err != nil {
		t.Errorf("production with secrets of its own: %v", err)
	}
	c.Auth.AccessSecret, c.Callbacks.Secret, c.Mode = config.DevAccessSecret, config.DevCallbackSecret, "dev"
	if err := c.Check(); err != nil {
		t.Errorf("development on the development secrets (warned, not refused): %v", err)
	}
}
