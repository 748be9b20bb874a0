// Package app assembles one jobs process from its config: the HTTP API, the worker pool
// and the recovery sweeper, as its role asks, and stops them in order.
package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/core/stores/sqlx"
	"github.com/zeromicro/go-zero/rest"

	"jobs/internal/callbacks"
	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/handler"
	"jobs/internal/jobview"
	"jobs/internal/metrics"
	"jobs/internal/openapi"
	"jobs/internal/probe"
	"jobs/internal/recovery"
	"jobs/internal/retention"
	"jobs/internal/schedule"
	"jobs/internal/sse"
	"jobs/internal/svc"
	"jobs/internal/ui"
	"jobs/internal/web"
	"jobs/internal/worker"
	"jobs/model"
)

// HTTPDrain bounds how long shutdown waits for in-flight requests. Result waits are not held
// to it: they answer as the event hub closes, just before.
const HTTPDrain = 10 * time.Second

// Readiness (/readyz) checks MySQL and Redis within readyTimeout, at most once per
// readyCacheFor however often it is probed.
const (
	readyTimeout  = time.Second
	readyCacheFor = time.Second
)

// backlogCacheFor is how long the pending backlog read for /metrics is reused: however
// often Prometheus scrapes, MySQL counts the pending jobs at most this often.
const backlogCacheFor = 5 * time.Second

// App is one process: API, workers, or both.
type App struct {
	Config config.Config
	Svc    *svc.ServiceContext
	// Streams serves the API's event streams (the handlers find it in the request's
	// context); nil unless the role includes the API.
	Streams *sse.Streams
	// probes answer /healthz and /readyz in front of go-zero's router with every route bound;
	// nil unless the role includes the API.
	probes  *probe.Probes
	http    *http.Server // set by Run
	pool    *worker.Pool // nil unless the role includes workers
	sweeper *recovery.Sweeper
	// scheduler fires schedules; nil unless the role includes workers.
	scheduler *schedule.Scheduler
	// deliverer makes callback deliveries; nil unless the role includes workers.
	deliverer *callbacks.Deliverer
	// pruner deletes finished jobs past their retention; nil unless the role includes workers.
	pruner *retention.Pruner
	// unwatchBacklog stops /metrics reading this App's backlog (metrics.WatchBacklog).
	unwatchBacklog func()
	stop           sync.Once
}

// New prepares the database (when MySQL.Migrate is set) and builds the parts of c.Role,
// with the built-in functions plus extra. Nothing runs until StartBackground or Run. A New
// that fails leaves no connection open.
func New(ctx context.Context, c config.Config, extra ...*functions.Definition) (_ *App, err error) {
	dsn, err := model.NormalizeDSN(c.MySQL.DataSource)
	if err != nil {
		return nil, err
	}
	c.MySQL.DataSource = dsn
	// Without an Endpoint, go-zero's Telemetry records the spans of every new trace and sends
	// them nowhere (about 6% of a start's CPU): sample no new trace. A caller's sampled trace
	// is still followed (the sampler is parent-based), and every job still stores its
	// traceparent.
	if c.Telemetry.Endpoint == "" {
		c.Telemetry.Sampler = 0
	}
	// Statement logs would log every claim and completion; errors and slow queries still log.
	sqlx.DisableStmtLog()

	// The config's functions and schedules are checked before MySQL is first asked anything
	// (the clients connect lazily), so a bad entry is named even while MySQL is away.
	sc, err := svc.NewServiceContext(c, extra...)
	if err != nil {
		return nil, err
	}
	// Nothing runs yet, so the connections are all a later error has to close.
	defer func() {
		if err != nil {
			if closeErr := sc.Close(); closeErr != nil {
				logx.Errorf("close: %v", closeErr)
			}
		}
	}()
	a := &App{Config: c, Svc: sc}
	// Every role checks the declared schedules, so a bad entry fails any process's start.
	declared, err := schedule.Declared(c.Schedules, sc.StartRules(), time.Now())
	if err != nil {
		return nil, &config.Invalid{Err: err}
	}
	if c.MySQL.Migrate {
		if err := model.Migrate(ctx, dsn); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	if c.Runs("api") {
		web.InstallHooks()
		// go-zero's own body limit answers with an empty 413; LimitBody answers in the envelope.
		limit := c.MaxBytes
		c.Middlewares.MaxBytes = false
		// go-zero's per-route breaker answers empty 503s once a route has failed often, and
		// went on refusing for seconds after the database was back; the failures it counts
		// are outages, which answer 503 on their own (docs/ARCHITECTURE.md, "Outages").
		c.Middlewares.Breaker = false
		// go-zero's request log counts a result request's wait as a slow call; LogRequests
		// does not.
		c.Middlewares.Log = false
		server, err := rest.NewServer(c.RestConf, web.ServerOptions(c.Cors.AllowOrigins)...)
		if err != nil {
			return nil, err
		}
		server.Use(web.LimitBody(limit))
		a.Streams = sse.NewStreams(c.Events.PingInterval, c.Events.MaxStreams)
		server.Use(a.Streams.Provide)
		handler.RegisterHandlers(server, sc)
		// The API's description, without a token (internal/openapi).
		server.AddRoute(rest.Route{Method: http.MethodGet, Path: openapi.Path, Handler: openapi.Handler})
		// Serverless binds the routes with all their middleware; serving them on our own
		// http.Server keeps shutdown in our hands (rest.Server.Stop only closes the logs).
		serverless, err := rest.NewServerless(server)
		if err != nil {
			return nil, err
		}
		api := web.LogRequests(web.EnvelopeErrors(
			web.ReadBodyWithin(time.Duration(c.Timeout)*time.Millisecond, limit, http.HandlerFunc(serverless.Serve))))
		// The dashboard's files need no token; the API calls it makes carry one.
		site := ui.Handler(ui.Config{DevTokens: c.DevAuth(), Secret: c.Auth.AccessSecret,
			TTL: time.Duration(c.Auth.AccessExpire) * time.Second}, api)
		// In front of everything: probes need no token and stay out of the request log.
		a.probes = probe.New(probe.Config{Timeout: readyTimeout, CacheFor: readyCacheFor}, []probe.Check{
			{Name: "mysql", Check: func(ctx context.Context) error { return model.CheckMigrated(ctx, sc.MySQL()) }},
			// A read of the work stream, not a PING: a Redis Cluster node answers PING while
			// the cluster is down, and this asks the node the work depends on.
			{Name: "redis", Check: func(ctx context.Context) error { _, err := sc.Queue.Backlog(ctx); return err }},
		}, site)
	}
	if c.Runs("worker") {
		if c.Worker.Concurrency > 0 {
			a.pool = worker.NewPool(worker.Config{ID: worker.NewID(), WorkerConf: c.Worker},
				sc.Jobs, sc.Queue, sc.Dispatcher, sc.Functions, sc.Events)
		}
		a.sweeper = recovery.NewSweeper(c.Recovery, sc.Jobs, sc.Queue, sc.Dispatcher, sc.Events)
		a.deliverer = callbacks.NewDeliverer(c.Callbacks, sc.CallbackAllow, jobview.CallbackBody, sc.Jobs)
		a.scheduler = schedule.NewScheduler(schedule.Config{Interval: c.Scheduler.Interval, LateGrace: c.Scheduler.LateGrace},
			declared, sc.Schedules, sc.StartRules(), sc.Dispatcher, sc.Events)
		r := c.Retention
		a.pruner = retention.NewPruner(retention.Config{Completed: r.Completed, Failed: r.Failed, Cancelled: r.Cancelled,
			Interval: r.Interval, BatchSize: r.BatchSize, Pause: r.Pause},
			sc.Jobs, model.NewNamedLock(sc.MySQL(), retention.LockName), sc.Events)
	}
	// Last, once nothing can fail: the collector is process-wide, and must not be left
	// reading the closed pool of a New that failed.
	a.unwatchBacklog = metrics.WatchBacklog(sc.Stats, func() []string {
		var ids []string
		for _, d := range sc.Functions.All() {
			ids = append(ids, d.ID)
		}
		return ids
	}, backlogCacheFor)
	return a, nil
}

// Handler returns the API as an http.Handler, for serving on a listener of the caller's.
func (a *App) Handler() (http.Handler, error) {
	if a.probes == nil {
		return nil, fmt.Errorf("role %q has no API", a.Config.Role)
	}
	return a.probes, nil
}

// StartBackground starts the event hubs, the worker pool, the sweeper, the callback
// deliverer, the scheduler and the pruner (whichever the role has). If one fails to start,
// it stops the App as Stop does, what had started and the connections, and returns the error.
func (a *App) StartBackground(ctx context.Context) error {
	if err := a.startBackground(ctx); err != nil {
		a.Stop(ctx)
		return err
	}
	return nil
}

func (a *App) startBackground(ctx context.Context) error {
	if a.probes != nil {
		if err := a.Svc.Hub.Start(ctx); err != nil {
			return fmt.Errorf("subscribe to events: %w", err)
		}
		if err := a.Svc.TenantHub.Start(ctx); err != nil {
			return fmt.Errorf("subscribe to tenant events: %w", err)
		}
	}
	if a.pool != nil {
		if err := a.pool.Start(ctx); err != nil {
			return err
		}
	}
	if a.sweeper != nil {
		a.sweeper.Start()
	}
	if a.deliverer != nil {
		a.deliverer.Start()
	}
	if a.scheduler != nil {
		a.scheduler.Start()
	}
	if a.pruner != nil {
		a.pruner.Start()
	}
	return nil
}

// Stop shuts down in order: readiness (/readyz answers 503 "shutting down" from then on,
// also on a caller's server serving Handler; Run's goes on serving for Shutdown.DrainDelay),
// open event streams and result waits (ending them lets the HTTP server drain at once), HTTP
// intake, then the worker pool (drain within the grace, hand back the rest), then the
// callback deliverer (deliveries in flight give their claim back, due again at once), then
// the scheduler, then the sweeper and the pruner, then /metrics' reads of the backlog, then
// the connections. It stops only what was started: an App never started only stops the
// backlog reads and closes its connections. Later calls do nothing.
func (a *App) Stop(ctx context.Context) {
	a.stop.Do(func() { a.stopOnce(ctx) })
}

func (a *App) stopOnce(ctx context.Context) {
	if a.probes != nil {
		a.probes.ShuttingDown()
		if a.http != nil && a.Config.Shutdown.DrainDelay > 0 {
			// Everything still served, so that a load balancer polling /readyz hears the
			// 503 before new connections are refused.
			time.Sleep(a.Config.Shutdown.DrainDelay)
		}
		a.Streams.Close()
		a.Svc.Hub.Close()
		a.Svc.TenantHub.Close()
	}
	if a.http != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, HTTPDrain)
		if err := a.http.Shutdown(shutdownCtx); err != nil {
			// Requests still running are cut off now, their connections closed and their
			// contexts ended, rather than left running until the pools close under them.
			logx.Errorf("http shutdown: %v; closing the connections left", err)
			_ = a.http.Close()
		}
		cancel()
	}
	if a.pool != nil {
		a.pool.Stop(ctx)
	}
	if a.deliverer != nil {
		a.deliverer.Stop()
	}
	if a.scheduler != nil {
		a.scheduler.Stop()
	}
	if a.sweeper != nil {
		a.sweeper.Stop()
	}
	if a.pruner != nil {
		a.pruner.Stop()
	}
	a.unwatchBacklog()
	if err := a.Svc.Close(); err != nil {
		logx.Errorf("close: %v", err)
	}
}

func (a *App) workers() int {
	if a.pool == nil {
		return 0
	}
	return a.Config.Worker.Concurrency
}

// Run starts everything, serves HTTP if the role has the API, and returns after SIGTERM
// or SIGINT once Stop has finished. If the start fails (the port taken, Redis refusing),
// or the HTTP server fails later, Run stops the App and returns the error.
func (a *App) Run(ctx context.Context) error {
	// go-zero force-quits a process still alive this long after the signal; leave room for
	// the drain delay, the HTTP drain and the shutdown grace.
	proc.SetTimeToForceQuit(a.Config.Shutdown.DrainDelay + HTTPDrain + a.Config.Worker.ShutdownGrace + 15*time.Second)
	var listener net.Listener
	if a.probes != nil {
		var err error
		if listener, err = net.Listen("tcp", net.JoinHostPort(a.Config.Host, strconv.Itoa(a.Config.Port))); err != nil {
			a.Stop(ctx)
			return err
		}
		a.http = &http.Server{
			Handler: a.probes,
			// The stream route has no overall timeout (go-zero's per-route timeouts cover
			// the others); slow-header clients are still cut off here.
			ReadHeaderTimeout: a.Config.Events.HeaderTimeout,
			IdleTimeout:       2 * time.Minute,
		}
	}
	if err := a.StartBackground(ctx); err != nil {
		// Not served yet, so Stop's HTTP shutdown did not close it.
		if listener != nil {
			_ = listener.Close()
		}
		return err
	}
	// A server that fails (its accept refused) ends Run as a signal would, with its error:
	// the process exits non-zero and is restarted at once, not left running its workers
	// with no API until a liveness probe gives up on it.
	served := make(chan error, 1)
	if a.http != nil {
		fmt.Printf("%s listening on http://%s (role %s, %d workers)\n", a.Config.Name, listener.Addr(), a.Config.Role, a.workers())
		go func() { served <- a.http.Serve(listener) }()
	} else {
		fmt.Printf("%s running %d workers (role %s)\n", a.Config.Name, a.workers(), a.Config.Role)
	}
	var err error
	select {
	case <-proc.Done():
		logx.Info("shutting down")
	case err = <-served:
		// Shutdown is not called before Stop, so this is never http.ErrServerClosed.
		err = fmt.Errorf("http: %w", err)
		logx.Errorf("%v; shutting down", err)
	}
	a.Stop(context.Background())
	logx.Info("stopped")
	return err
}
