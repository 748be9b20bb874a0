// Package config holds the service configuration loaded from etc/jobs.yaml.
package config

import (
	"time"

	"github.com/zeromicro/go-zero/rest"
)

// Config is the whole service configuration. Every key has a working default,
// so an empty file (plus Name) starts a service against the local MariaDB and Redis.
// The secrets can come from the environment instead (a Kubernetes Secret, local.env): a
// non-empty JOBS_MYSQL_DSN, JOBS_REDIS_PASSWORD, JOBS_REDIS_SENTINEL_PASSWORD,
// JOBS_ACCESS_SECRET or JOBS_CALLBACK_SECRET overrides its key (env= tags).
type Config struct {
	rest.RestConf
	// Role selects what this process runs: the HTTP API, the worker pool, or both.
	// The -role flag overrides it.
	Role string `json:",default=all,options=api|worker|all"`
	// Auth verifies the bearer tokens of every /api/v1 route (the Authenticate middleware).
	Auth     AuthConf
	MySQL    MySQLConf
	Redis    RedisConf
	Worker   WorkerConf
	Recovery RecoveryConf
	Events   EventsConf
	Limits   LimitsConf
	Cors     CorsConf
	// Retry is the default backoff between attempts; functions may set their own.
	Retry RetryConf
	// Callbacks delivers a job's final state to the callbackUrl given at start.
	Callbacks CallbacksConf
	// Retention deletes finished jobs after a while (worker processes prune; one at a time).
	Retention RetentionConf
	// Functions are the command and HTTP functions this deployment runs, next to the
	// built-ins. A bad entry fails start-up with a message naming it and the key.
	Functions []FunctionConf `json:",optional"`
	// Scheduler tunes the firing of schedules (processes with workers fire them).
	Scheduler SchedulerConf
	// Schedules are schedules declared here rather than through the API, each in its
	// tenant. Every worker process should declare the same: each one makes the stored
	// config schedules exactly its own at start-up. A bad entry fails start-up with a
	// message naming it and the key.
	Schedules []ScheduleConf `json:",optional"`
	// Shutdown tunes the API's side of a stop (Worker.ShutdownGrace is the workers').
	Shutdown ShutdownConf
}

// ShutdownConf tunes how an API process stops serving (docs/ARCHITECTURE.md, "Shutdown").
type ShutdownConf struct {
	// DrainDelay is how long the API goes on serving after SIGTERM, /readyz answering 503
	// "shutting down", before it stops accepting: time for a load balancer that polls
	// /readyz to stop sending requests. 0 on Kubernetes, whose preStop sleep does this.
	DrainDelay time.Duration `json:",default=0s"`
}

// SchedulerConf tunes the firing of schedules (docs/SCHEDULES.md).
type SchedulerConf struct {
	// Interval is how often due schedules are looked for: a fire time starts within about
	// this of its time.
	Interval time.Duration `json:",default=250ms"`
	// LateGrace is how late a fire time may be found and still start (a busy machine). Of
	// fire times missed by more (no scheduler ran), only the latest starts, and the others
	// are counted as missedFires.
	LateGrace time.Duration `json:",default=5s"`
}

// ScheduleConf is a schedule declared in the config: the fields of POST /api/v1/schedules
// plus its tenant.
type ScheduleConf struct {
	Tenant         string         `json:",optional"`
	Id             string         `json:",optional"`
	Cron           string         `json:",optional"`
	Timezone       string         `json:",optional"`
	Overlap        string         `json:",optional"`
	FunctionId     string         `json:",optional"`
	Name           string         `json:",optional"`
	Params         map[string]any `json:",optional"`
	Actor          string         `json:",optional"`
	GameId         string         `json:",optional"`
	Env            string         `json:",optional"`
	MaxAttempts    int64          `json:",optional"`
	TimeoutSeconds int64          `json:",optional"`
	CallbackUrl    string         `json:",optional"`
}

// RetryConf is the default exponential backoff between a job's attempts: the n-th retry
// waits about Backoff * 2^(n-1), at most MaxBackoff, with jitter (a random half of it).
type RetryConf struct {
	Backoff    time.Duration `json:",default=1s"`
	MaxBackoff time.Duration `json:",default=5m"`
}

// RetentionConf is how long finished jobs are kept, by status; 0 keeps them forever. A job
// whose callback delivery is still pending is kept until the delivery ends. Its events in
// Redis go with it.
type RetentionConf struct {
	Completed time.Duration `json:",default=168h"`
	Failed    time.Duration `json:",default=720h"`
	Cancelled time.Duration `json:",default=168h"`
	// Interval is the time between pruning passes.
	Interval time.Duration `json:",default=1m"`
	// BatchSize bounds the jobs one DELETE removes: the rows it locks, briefly.
	BatchSize int `json:",default=500,range=[1:10000]"`
	// Pause is the time between batches of one pass, left to the writes of job starts.
	Pause time.Duration `json:",default=10ms"`
}

// CallbacksConf tunes completion callbacks (the callbackUrl of a start request).
type CallbacksConf struct {
	// Secret signs every callback body (HMAC-SHA256, header X-Jobs-Signature). The default
	// is a development secret: set your own in production.
	Secret string `json:",default=jobs-dev-callback-secret-do-not-use-in-production,env=JOBS_CALLBACK_SECRET"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `json:",default=10s"`
	// MaxAttempts is how many times a callback is tried before it is given up as failed.
	MaxAttempts int `json:",default=8,range=[1:100]"`
	// Backoff and MaxBackoff space the attempts exponentially, with jitter.
	Backoff    time.Duration `json:",default=2s"`
	MaxBackoff time.Duration `json:",default=10m"`
	// Interval is how often due deliveries are looked for.
	Interval time.Duration `json:",default=250ms"`
	// Concurrency is how many deliveries one process makes at once.
	Concurrency int `json:",default=8,range=[1:1000]"`
	// AllowNetworks are CIDRs (e.g. 10.0.0.0/8, 127.0.0.1/32) that callbacks may reach
	// although they are loopback, link-local or private. Empty: public addresses only.
	AllowNetworks []string `json:",optional"`
}

// FunctionConf is one configured function. Every key is checked at start-up by
// configured.FromConfig (internal/functions/configured), which also fills the defaults documented here.
type FunctionConf struct {
	// Id is how jobs name the function (functionId).
	Id string `json:",optional"`
	// Kind is command or http.
	Kind        string `json:",optional"`
	Description string `json:",optional"`
	// Timeout bounds one attempt (default 1m); a job may ask for another (timeoutSeconds).
	Timeout time.Duration `json:",optional"`
	// MaxAttempts is how many attempts a job gets (default 1); a job may ask for another.
	MaxAttempts int `json:",optional"`
	// Backoff and MaxBackoff override Retry for this function.
	Backoff    time.Duration `json:",optional"`
	MaxBackoff time.Duration `json:",optional"`
	// RequiredParams are params a start request must carry (400 naming the missing ones).
	// Params used in Command.Argv are required too.
	RequiredParams []string    `json:",optional"`
	Command        CommandConf `json:",optional"`
	HTTP           HTTPConf    `json:",optional"`
}

// CommandConf runs a program without a shell (see README, "Command functions").
type CommandConf struct {
	// Argv is the program and its arguments. An argument that is exactly {{params.NAME}}
	// is replaced by that param (a string, number or boolean); nothing else is expanded.
	Argv []string `json:",optional"`
	// Dir is the working directory (default: the service's). Relative program paths in
	// Argv[0] are relative to it.
	Dir string `json:",optional"`
	// Env is the program's environment besides PATH, JOB_ID, JOB_ATTEMPT and JOB_PARAMS;
	// nothing else of the service's environment is passed on.
	Env map[string]string `json:",optional"`
	// KillGrace is how long the command's processes have between SIGTERM and SIGKILL on cancel or
	// timeout (default 5s).
	KillGrace time.Duration `json:",optional"`
	// PermanentExitCodes are exit codes that fail the job at once, whatever attempts are
	// left (say 2, for arguments the program rejects); other non-zero exits are retried.
	PermanentExitCodes []int `json:",optional"`
}

// HTTPConf calls a URL with the job (see README, "HTTP functions").
type HTTPConf struct {
	URL     string            `json:",optional"`
	Headers map[string]string `json:",optional"`
}

// CorsConf lets browser pages on other origins (the Dashboard) call the API.
type CorsConf struct {
	// AllowOrigins are the origins (scheme://host[:port]) allowed to call every route and
	// open EventSources; "*" allows any. Empty: no CORS headers, so only same-origin pages.
	AllowOrigins []string `json:",optional"`
}

// LimitsConf bounds what one request may ask for.
type LimitsConf struct {
	// MaxParamsBytes bounds a job's params, encoded as JSON; larger params get a 413 naming
	// params. MaxBytes bounds the whole request body before that. At most MaxParamsLimit
	// (Check says why).
	MaxParamsBytes int `json:",default=65536,range=[2:]"`
	// MaxPageSize is the largest list page (the size parameter).
	MaxPageSize int64 `json:",default=100,range=[1:10000]"`
	// ExactTotalUpTo caps the count behind a list's total: up to this many matches the total
	// is exact; beyond it the total is this number and totalIsEstimate is true.
	ExactTotalUpTo int64 `json:",default=10000,range=[1:100000000]"`
	// MaxAttempts bounds a start request's maxAttempts.
	MaxAttempts int64 `json:",default=20,range=[1:1000]"`
	// MaxTimeoutSeconds bounds a start request's timeoutSeconds.
	MaxTimeoutSeconds int64 `json:",default=86400,range=[1:31536000]"`
	// MaxBatch bounds the start requests of one POST /api/v1/jobs/batch.
	MaxBatch int `json:",default=1000,range=[1:10000]"`
	// MaxBulk bounds the jobs a bulk cancel or rerun by filter acts on in one request.
	MaxBulk int64 `json:",default=10000,range=[1:1000000]"`
}

// DevAuth reports whether the config signs tokens with the shipped development secret
// (DevAccessSecret). With it, anyone can mint tokens, so the dashboard may hand them out.
func (c Config) DevAuth() bool { return c.Auth.AccessSecret == DevAccessSecret }

// AuthConf is the HS256 secret that signs access tokens and how long minted tokens live.
type AuthConf struct {
	// AccessSecret signs and verifies tokens (at least 8 characters). The default is a
	// development secret known to everyone who reads this file: set your own in production.
	AccessSecret string `json:",default=jobs-dev-secret-do-not-use-in-production,env=JOBS_ACCESS_SECRET"`
	// AccessExpire is the lifetime, in seconds, of tokens minted by "jobs token".
	AccessExpire int64 `json:",default=86400"`
}

// MySQLConf says where jobs are stored.
type MySQLConf struct {
	// DataSource is a go-sql-driver DSN. The database in it is created if missing;
	// parseTime, loc=UTC, time_zone and interpolateParams are always set, and
	// maxAllowedPacket=0 (the server's).
	DataSource string `json:",default=root:@tcp(127.0.0.1:3306)/jobs,env=JOBS_MYSQL_DSN"`
	// Migrate applies the schema at start-up (idempotent).
	Migrate bool `json:",default=true"`
	// MaxOpenConns bounds this process's MySQL connections. At least 2: a retention pass
	// holds one for its lock (GET_LOCK) while it deletes on another; on one, it waited for
	// itself, and every query of the process behind it.
	MaxOpenConns int `json:",default=32,range=[2:10000]"`
}

// RedisConf says where work and signals travel: one Redis (Addr), a Redis Cluster (Addrs)
// or a master watched by Sentinels (MasterName).
type RedisConf struct {
	// Addr is a single Redis server, used unless Addrs is set.
	Addr string `json:",default=127.0.0.1:6379"`
	// Addrs are seed nodes of a Redis Cluster (one is enough; the rest are discovered), or,
	// with MasterName, the Sentinels.
	Addrs []string `json:",optional"`
	// MasterName is the name of the master the Sentinels at Addrs (or Addr) watch; the
	// service follows it through failovers.
	MasterName string `json:",optional"`
	// SentinelPassword authenticates to the Sentinels, if they require it.
	SentinelPassword string `json:",optional,env=JOBS_REDIS_SENTINEL_PASSWORD"`
	Password         string `json:",optional,env=JOBS_REDIS_PASSWORD"`
	// DB is the database number; a Redis Cluster has only 0.
	DB int `json:",default=0"`
	// Prefix namespaces every key and channel, so several deployments (or tests) share one
	// Redis. It must not contain braces (Redis Cluster hash tags: docs/ARCHITECTURE.md).
	Prefix string `json:",default=jobs"`
}

// WorkerConf tunes the worker pool.
type WorkerConf struct {
	// Concurrency is how many jobs one process runs at once; 0 with role all runs no workers.
	Concurrency int `json:",default=16,range=[0:10000]"`
	// BatchSize caps how many stream entries are read and claimed in one round trip.
	BatchSize int `json:",default=64,range=[1:1000]"`
	// Lease is how long a claim stays valid without a heartbeat.
	Lease time.Duration `json:",default=20s"`
	// Heartbeat is how often running jobs' leases are extended; keep it well under Lease.
	Heartbeat time.Duration `json:",default=5s"`
	// ProgressFlush is how often reported progress is written to MySQL.
	ProgressFlush time.Duration `json:",default=500ms"`
	// ClaimIdle is how long a read-but-unclaimed stream entry may sit with a consumer
	// before another worker takes it over (XAUTOCLAIM).
	ClaimIdle time.Duration `json:",default=15s"`
	// ShutdownGrace is how long running jobs may finish after SIGTERM before they are handed back.
	ShutdownGrace time.Duration `json:",default=10s"`
	// UnknownFunctionGrace is how long workers that do not have a job's function (a rolling
	// deploy that adds it: old workers read the stream beside new ones) hand the job back
	// for one that does, counted from the first hand-back; then it fails, as a function no
	// worker has.
	UnknownFunctionGrace time.Duration `json:",default=10m"`
	// LogTail is how many of the last output lines of an attempt are kept with the job (as
	// many of them as fit 1 MiB of JSON).
	LogTail int `json:",default=100,range=[0:10000]"`
}

// RecoveryConf tunes the sweeper that brings back work a dead worker or a lost Redis left behind.
type RecoveryConf struct {
	// Interval is how often expired leases are reaped and unenqueued pending jobs are enqueued.
	Interval time.Duration `json:",default=5s"`
	// DueInterval is how often delayed jobs that have become due are enqueued (and jobs
	// whose enqueue failed are retried): a delayed job starts within about this of its runAt.
	DueInterval time.Duration `json:",default=250ms"`
	// StaleEnqueue re-enqueues a pending job whose last enqueue is older than this and that no
	// worker will get from the stream: the process that enqueued it died between its MySQL
	// commit and its XADD, or Redis lost the entry. Sweepers check once per StaleEnqueue/10.
	StaleEnqueue time.Duration `json:",default=5m"`
	// ConsumerIdle removes a consumer (a worker) from the stream's group once it has been
	// idle this long with nothing pending: a worker that is gone. A worker with a free slot
	// reads every 0.5 s, and one removed while busy is added again by its next read.
	ConsumerIdle time.Duration `json:",default=1h"`
}

// EventsConf tunes live progress streams.
type EventsConf struct {
	// MaxLen is how many recent events per job Redis keeps for Last-Event-ID replay; a
	// resume from before them gets a reset event after its snapshot.
	MaxLen int64 `json:",default=1000,range=[10:1000000]"`
	// TenantMaxLen is how many recent events per tenant (GET /api/v1/events) Redis keeps
	// for Last-Event-ID replay; a resume from before them starts with a reset event.
	TenantMaxLen int64 `json:",default=10000,range=[10:10000000]"`
	// Retain is how long a job's events are kept after its latest event.
	Retain time.Duration `json:",default=24h"`
	// RetainDone is how long they are kept once the job is done.
	RetainDone time.Duration `json:",default=5m"`
	// ClientBuffer is how many events a stream may fall behind before it is closed
	// (the client resumes with Last-Event-ID).
	ClientBuffer int `json:",default=64,range=[1:100000]"`
	// CheckInterval is how often an API process checks, for all its streams' jobs at once,
	// for events its subscription missed and for jobs that ended unannounced.
	CheckInterval time.Duration `json:",default=5s"`
	// MaxStreams is how many event streams one API process keeps open; a stream asked for
	// beyond it is answered 503. (Open streams are not go-zero requests: MaxConns does not
	// count them.)
	MaxStreams int `json:",default=10000,range=[1:10000000]"`
	// PingInterval is how often an open stream gets a ": ping" comment (API.md: at least
	// every 15 s), which also keeps proxies from closing idle streams.
	PingInterval time.Duration `json:",default=10s"`
	// HeaderTimeout bounds how long a client may take to send its request headers, on every
	// connection (streams have no overall timeout).
	HeaderTimeout time.Duration `json:",default=10s"`
}

// Runs reports whether this process runs the given role ("api" or "worker").
func (c Config) Runs(role string) bool {
	return c.Role == "all" || c.Role == role
}
