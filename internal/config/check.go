package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/zeromicro/go-zero/core/service"

	"jobs/internal/batcher"
)

// ReadBlock bounds how long one worker's read of the stream (XREADGROUP) waits, and so how
// long shutdown waits for it. Worker.ClaimIdle must be above it, or an entry a worker has
// just read could be taken over while the worker is still claiming it.
const ReadBlock = 500 * time.Millisecond

// MaxParamsLimit is the largest Limits.MaxParamsBytes: a job's row then fits one INSERT that
// MySQL takes, even with every byte of its params escaped (twice as long, under MariaDB's
// 16 MiB max_allowed_packet), as every statement of batched rows does. Above it, a job with
// 8 MiB of quotes made a statement MySQL refused, a 503 "mysql unavailable" on every retry.
const MaxParamsLimit = batcher.MaxStatementBytes

// MaxPingInterval is the longest Events.PingInterval: API.md promises a ping at least every 15 s.
const MaxPingInterval = 15 * time.Second

// Check checks the rules that span keys, which go-zero's per-key tags (default, range,
// options) cannot: a heartbeat well under the lease, a claim-idle above the read block,
// retention and limits that fit each other, and no development secret in a production
// process (Mode pro, go-zero's default). Each message names the key. Every problem is
// reported, not only the first. jobs serve runs it before anything starts. (It is not named
// Validate: go-zero's conf.Load calls a Validate on every load, jobs token's included, which
// must not refuse the development secrets.)
// Invalid is an entry of the config that the service refuses for what it says, found only
// as the app is built (a function, a schedule, a callback network): jobs serve reports it as
// the config's mistake, as it does a key Load or Check refuses, and not as an outage.
type Invalid struct{ Err error }

func (e *Invalid) Error() string { return e.Err.Error() }
func (e *Invalid) Unwrap() error { return e.Err }

func (c Config) Check() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	positive := func(key string, d time.Duration) {
		check(d > 0, "%s must be positive, not %s", key, d)
	}
	backoff := func(prefix string, b, maxBackoff time.Duration) {
		positive(prefix+"Backoff", b)
		check(maxBackoff >= b, "%sMaxBackoff (%s) must be at least %sBackoff (%s)", prefix, maxBackoff, prefix, b)
	}

	check(c.Role == "api" || c.Role == "worker" || c.Role == "all", "Role must be api, worker or all, not %q", c.Role)

	w := c.Worker
	positive("Worker.Lease", w.Lease)
	positive("Worker.Heartbeat", w.Heartbeat)
	positive("Worker.ProgressFlush", w.ProgressFlush)
	check(w.Heartbeat*3 <= w.Lease, "Worker.Heartbeat (%s) must be at most a third of Worker.Lease (%s), so a late heartbeat or two does not lose a running job's lease", w.Heartbeat, w.Lease)
	check(w.ClaimIdle > ReadBlock, "Worker.ClaimIdle (%s) must be above the worker's read block (%s), or entries being claimed are taken over", w.ClaimIdle, ReadBlock)
	check(w.ShutdownGrace >= 0, "Worker.ShutdownGrace must not be negative, not %s", w.ShutdownGrace)
	positive("Worker.UnknownFunctionGrace", w.UnknownFunctionGrace)
	check(c.Shutdown.DrainDelay >= 0, "Shutdown.DrainDelay must not be negative, not %s", c.Shutdown.DrainDelay)

	positive("Scheduler.Interval", c.Scheduler.Interval)
	check(c.Scheduler.LateGrace >= c.Scheduler.Interval, "Scheduler.LateGrace (%s) must be at least Scheduler.Interval (%s), or fire times found by an ordinary pass count as missed",
		c.Scheduler.LateGrace, c.Scheduler.Interval)

	check(c.Retention.Completed >= 0, "Retention.Completed must not be negative (0s keeps jobs forever), not %s", c.Retention.Completed)
	check(c.Retention.Failed >= 0, "Retention.Failed must not be negative (0s keeps jobs forever), not %s", c.Retention.Failed)
	check(c.Retention.Cancelled >= 0, "Retention.Cancelled must not be negative (0s keeps jobs forever), not %s", c.Retention.Cancelled)
	positive("Retention.Interval", c.Retention.Interval)
	check(c.Retention.Pause >= 0, "Retention.Pause must not be negative, not %s", c.Retention.Pause)

	r := c.Recovery
	positive("Recovery.Interval", r.Interval)
	check(r.DueInterval >= 0, "Recovery.DueInterval must not be negative, not %s", r.DueInterval)
	positive("Recovery.StaleEnqueue", r.StaleEnqueue)
	positive("Recovery.ConsumerIdle", r.ConsumerIdle)

	e := c.Events
	positive("Events.Retain", e.Retain)
	positive("Events.RetainDone", e.RetainDone)
	check(e.RetainDone <= e.Retain, "Events.RetainDone (%s) must be at most Events.Retain (%s)", e.RetainDone, e.Retain)
	positive("Events.CheckInterval", e.CheckInterval)
	positive("Events.PingInterval", e.PingInterval)
	check(e.PingInterval <= MaxPingInterval, "Events.PingInterval (%s) must be at most %s (API.md)", e.PingInterval, MaxPingInterval)
	positive("Events.HeaderTimeout", e.HeaderTimeout)

	l := c.Limits
	check(l.MaxParamsBytes <= MaxParamsLimit, "Limits.MaxParamsBytes (%d) must be at most %d (4 MiB): a job's params, escaped, must fit one MySQL statement (max_allowed_packet)",
		l.MaxParamsBytes, MaxParamsLimit)
	check(int64(l.MaxParamsBytes) < c.MaxBytes, "Limits.MaxParamsBytes (%d) must be under MaxBytes (%d), the limit of the whole request body", l.MaxParamsBytes, c.MaxBytes)

	backoff("Retry.", c.Retry.Backoff, c.Retry.MaxBackoff)
	cb := c.Callbacks
	backoff("Callbacks.", cb.Backoff, cb.MaxBackoff)
	positive("Callbacks.Timeout", cb.Timeout)
	positive("Callbacks.Interval", cb.Interval)

	check(len(c.Auth.AccessSecret) >= 8, "Auth.AccessSecret must be at least 8 characters")
	// A blank Callbacks.Secret would sign every delivery with a key anyone knows.
	check(len(c.Callbacks.Secret) >= 8, "Callbacks.Secret must be at least 8 characters")
	check(c.Auth.AccessExpire > 0, "Auth.AccessExpire must be positive, not %d", c.Auth.AccessExpire)
	if c.Production() {
		for _, s := range c.devSecrets() {
			errs = append(errs, fmt.Errorf("%s is the development secret and Mode is %s (production): set your own (%s), or Mode: dev", s.key, c.Mode, s.env))
		}
	}
	return errors.Join(errs...)
}

// Production reports whether the config says this is a production process: go-zero's Mode
// is pro, its default.
func (c Config) Production() bool { return c.Mode == service.ProMode }

type devSecret struct{ key, env, risk string }

// devSecrets returns the secrets that are still development secrets.
func (c Config) devSecrets() []devSecret {
	var found []devSecret
	if c.Auth.AccessSecret == DevAccessSecret {
		found = append(found, devSecret{"Auth.AccessSecret", "JOBS_ACCESS_SECRET", "mint access tokens"})
	}
	if c.Callbacks.Secret == DevCallbackSecret {
		found = append(found, devSecret{"Callbacks.Secret", "JOBS_CALLBACK_SECRET", "forge callbacks"})
	}
	return found
}

// DevSecretWarnings returns a warning for each secret that is still a development secret
// (Check refuses them in production).
func (c Config) DevSecretWarnings() []string {
	var warnings []string
	for _, s := range c.devSecrets() {
		warnings = append(warnings, fmt.Sprintf("%s is the development secret: anyone who has read this repository can %s; set your own", s.key, s.risk))
	}
	return warnings
}
