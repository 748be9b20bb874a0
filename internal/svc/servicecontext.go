// Package svc holds the dependencies that handlers, logic and workers share.
package svc

import (
	"database/sql"
	"errors"
	"net/netip"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/rest"

	"jobs/internal/callbacks"
	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/functions/configured"
	"jobs/internal/middleware"
	"jobs/internal/queue"
	"jobs/internal/startreq"
	"jobs/internal/starts"
	"jobs/model"
)

// ServiceContext is built once per process from the config.
type ServiceContext struct {
	Config config.Config
	Jobs   model.JobsModel
	// Stats reads the dashboard overview's numbers.
	Stats model.StatsModel
	// Schedules stores the tenants' schedules (internal/schedule fires them).
	Schedules  model.SchedulesModel
	Queue      *queue.Queue
	Dispatcher *dispatch.Dispatcher
	// Starts commits new jobs, writing concurrent starts together.
	Starts    *starts.Writer
	Functions *functions.Registry
	Events    *events.Bus
	// Hub fans events out to this process's streams; only processes with the API start it.
	Hub *events.Hub
	// TenantHub fans tenants' events out to this process's GET /api/v1/events streams;
	// started with Hub.
	TenantHub *events.Hub
	Redis     redis.UniversalClient
	db        *sql.DB
	// CallbackAllow are the internal networks callbacks may reach (Callbacks.AllowNetworks).
	CallbackAllow []netip.Prefix
	// Authenticate verifies the access token of every /api/v1 route (api/jobs.api).
	Authenticate rest.Middleware
}

// NewServiceContext connects to MySQL and Redis (lazily, as both clients do) and builds
// the function registry from the built-ins, the configured functions (c.Functions) and
// extra. Functions without a backoff of their own get c.Retry's. c.MySQL.DataSource must
// already be normalized (model.NormalizeDSN).
func NewServiceContext(c config.Config, extra ...*functions.Definition) (*ServiceContext, error) {
	configured, err := configured.FromConfig(c.Functions)
	if err != nil {
		return nil, &config.Invalid{Err: err}
	}
	defs := append(append(functions.Builtins(), configured...), extra...)
	for _, d := range defs {
		if d.Backoff == 0 {
			d.Backoff = c.Retry.Backoff
		}
		if d.MaxBackoff == 0 {
			d.MaxBackoff = c.Retry.MaxBackoff
		}
	}
	registry, err := functions.NewRegistry(defs...)
	if err != nil {
		return nil, &config.Invalid{Err: err}
	}
	allow, err := callbacks.ParseAllow(c.Callbacks.AllowNetworks)
	if err != nil {
		return nil, &config.Invalid{Err: err}
	}
	rdb, err := newRedis(c.Redis)
	if err != nil {
		return nil, err
	}
	db, conn, err := model.Open(c.MySQL.DataSource, c.MySQL.MaxOpenConns)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	jobs := model.NewJobsModel(conn)
	q := queue.New(rdb, c.Redis.Prefix)
	bus := events.NewBus(rdb, c.Redis.Prefix, c.Events)
	dispatcher := dispatch.New(jobs, q)
	return &ServiceContext{
		Config:        c,
		Jobs:          jobs,
		Stats:         model.NewStatsModel(conn),
		Schedules:     model.NewSchedulesModel(conn),
		Queue:         q,
		Dispatcher:    dispatcher,
		Starts:        starts.New(jobs, bus, dispatcher),
		Functions:     registry,
		Events:        bus,
		Hub:           events.NewHub(bus, c.Events, jobs.Ended),
		TenantHub:     events.NewTenantHub(bus, c.Events),
		Redis:         rdb,
		CallbackAllow: allow,
		Authenticate:  middleware.NewAuthenticateMiddleware(c.Auth.AccessSecret).Handle,
		db:            db,
	}, nil
}

// Close releases the Redis and MySQL connections.
func (s *ServiceContext) Close() error {
	return errors.Join(s.Redis.Close(), s.db.Close())
}

// MySQL is the connection pool behind Jobs, for checks that need no model (readiness).
func (s *ServiceContext) MySQL() *sql.DB { return s.db }

// StartRules are the checks of a start request under this config (the start route and
// schedules share them).
func (s *ServiceContext) StartRules() startreq.Rules {
	return startreq.Rules{Functions: s.Functions, Limits: s.Config.Limits, CallbackAllow: s.CallbackAllow}
}
