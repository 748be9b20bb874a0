// Package svc holds the dependencies that handlers, logic and workers share.
package svc

import (
	"database/sql"
	"errors"

	"github.com/redis/go-redis/v9"

	"jobs/internal/config"
	"jobs/internal/dispatch"
	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/internal/queue"
	"jobs/model"
)

// ServiceContext is built once per process from the config.
type ServiceContext struct {
	Config     config.Config
	Jobs       model.JobsModel
	Queue      *queue.Queue
	Dispatcher *dispatch.Dispatcher
	Functions  *functions.Registry
	Events     *events.Bus
	// Hub fans events out to this process's streams; only processes with the API start it.
	Hub   *events.Hub
	Redis redis.UniversalClient
	db    *sql.DB
}

// NewServiceContext connects to MySQL and Redis (lazily, as both clients do) and builds
// the function registry from the built-ins plus extra. c.MySQL.DataSource must already be
// normalized (model.NormalizeDSN).
func NewServiceContext(c config.Config, extra ...*functions.Definition) (*ServiceContext, error) {
	registry, err := functions.NewRegistry(append(functions.Builtins(), extra...)...)
	if err != nil {
		return nil, err
	}
	db, conn, err := model.Open(c.MySQL.DataSource, c.MySQL.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.Redis.Addr, Password: c.Redis.Password, DB: c.Redis.DB})
	jobs := model.NewJobsModel(conn)
	q := queue.New(rdb, c.Redis.Prefix)
	bus := events.NewBus(rdb, c.Redis.Prefix, events.Config{MaxLen: c.Events.MaxLen, Retain: c.Events.Retain,
		RetainDone: c.Events.RetainDone})
	return &ServiceContext{
		Config:     c,
		Jobs:       jobs,
		Queue:      q,
		Dispatcher: dispatch.New(jobs, q),
		Functions:  registry,
		Events:     bus,
		Hub:        events.NewHub(bus, c.Events.ClientBuffer),
		Redis:      rdb,
		db:         db,
	}, nil
}

// Close releases the Redis and MySQL connections.
func (s *ServiceContext) Close() error {
	return errors.Join(s.Redis.Close(), s.db.Close())
}
