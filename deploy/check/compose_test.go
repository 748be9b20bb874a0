package check

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/go-sql-driver/mysql"

	"jobs/internal/app"
)

// loadCompose loads deploy/compose.yaml as docker compose would (the compose-spec library,
// which validates it against the compose JSON schema), with env as the environment.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	file := filepath.Join(repoRoot(t), "deploy", "compose.yaml")
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithEnv(env), cli.WithWorkingDirectory(filepath.Dir(file)))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return project
}

func TestComposeRunsTheService(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, "JOBS_DB_PASSWORD=s3cret-db", "JOBS_ACCESS_SECRET=s3cret-access")
	if got := slices.Sorted(func(yield func(string) bool) {
		for name := range p.Services {
			if !yield(name) {
				return
			}
		}
	}); !slices.Equal(got, []string{"api", "mariadb", "redis", "worker"}) {
		t.Fatalf("services %q, want api, mariadb, redis, worker", got)
	}
	api, worker, mariadb, redis := p.Services["api"], p.Services["worker"], p.Services["mariadb"], p.Services["redis"]

	// One image, built from deploy/Dockerfile, for both roles.
	for _, s := range []types.ServiceConfig{api, worker} {
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" || s.Build.Context != repoRoot(t) {
			t.Errorf("%s: want a build of deploy/Dockerfile from the repository, got %+v", s.Name, s.Build)
		}
		if s.Image != api.Image {
			t.Errorf("%s: image %s, want the API's %s", s.Name, s.Image, api.Image)
		}
	}
	if !slices.Equal(api.Command, types.ShellCommand{"-role", "api"}) || !slices.Equal(worker.Command, types.ShellCommand{"-role", "worker"}) {
		t.Errorf("commands %q and %q, want -role api and -role worker", api.Command, worker.Command)
	}

	// The image's config, which the service accepts, with the secrets from the environment.
	cfg := serviceConfig(t, readRepoFile(t, "deploy/jobs.yaml"), "all")
	vars := configEnvVars()
	for _, s := range []types.ServiceConfig{api, worker} {
		for name := range s.Environment {
			if !vars[name] {
				t.Errorf("%s: %s is not a variable the service reads", s.Name, name)
			}
		}
		// The DSN reaches the mariadb service as the user it creates.
		dsn, err := mysql.ParseDSN(value(s.Environment, "JOBS_MYSQL_DSN"))
		if err != nil {
			t.Fatalf("%s: JOBS_MYSQL_DSN: %v", s.Name, err)
		}
		if dsn.Addr != "mariadb:3306" || dsn.User != value(mariadb.Environment, "MARIADB_USER") ||
			dsn.Passwd != "s3cret-db" || dsn.Passwd != value(mariadb.Environment, "MARIADB_PASSWORD") ||
			dsn.DBName != value(mariadb.Environment, "MARIADB_DATABASE") {
			t.Errorf("%s: JOBS_MYSQL_DSN %q does not match the mariadb service's user, password and database", s.Name, value(s.Environment, "JOBS_MYSQL_DSN"))
		}
		if value(s.Environment, "JOBS_ACCESS_SECRET") != "s3cret-access" {
			t.Errorf("%s: JOBS_ACCESS_SECRET is not taken from the environment", s.Name)
		}
		// Both wait for healthy dependencies.
		for _, dep := range []string{"mariadb", "redis"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: want depends_on %s service_healthy, got %+v", s.Name, dep, d)
			}
		}
		// Docker's SIGKILL comes after the drain delay, the HTTP drain and the jobs' shutdown grace.
		need := cfg.Shutdown.DrainDelay + app.HTTPDrain + cfg.Worker.ShutdownGrace
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= need {
			t.Errorf("%s: stop_grace_period must exceed Shutdown.DrainDelay %v + the HTTP drain %v + Worker.ShutdownGrace %v",
				s.Name, cfg.Shutdown.DrainDelay, app.HTTPDrain, cfg.Worker.ShutdownGrace)
		}
	}
	if host, port, _ := strings.Cut(cfg.Redis.Addr, ":"); host != "redis" || port != "6379" {
		t.Errorf("the config's Redis.Addr %s is not the redis service", cfg.Redis.Addr)
	}

	// Health checks: the databases' own, and the API's readiness on its port.
	for _, s := range []types.ServiceConfig{mariadb, redis, api} {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Interval == nil {
			t.Errorf("%s: want a health check with an interval, got %+v", s.Name, s.HealthCheck)
		}
	}
	readyz := "http://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/readyz"
	if api.HealthCheck == nil || !slices.Contains(api.HealthCheck.Test, readyz) {
		t.Errorf("api: the health check does not ask %s", readyz)
	}
	if len(api.Ports) != 1 || api.Ports[0].Target != uint32(cfg.Port) {
		t.Errorf("api: want the config's port %d published, got %+v", cfg.Port, api.Ports)
	}

	// Data on named volumes, declared at the top level.
	for _, want := range []struct{ service, volume, target string }{
		{"mariadb", "mariadb-data", "/var/lib/mysql"},
		{"redis", "redis-data", "/data"},
	} {
		if _, ok := p.Volumes[want.volume]; !ok {
			t.Errorf("volume %s is not declared", want.volume)
		}
		if !slices.ContainsFunc(p.Services[want.service].Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Source == want.volume && v.Target == want.target
		}) {
			t.Errorf("%s: want volume %s at %s", want.service, want.volume, want.target)
		}
	}
}

// Unset, the database password has a development default and the service secrets are empty,
// which the service ignores (it keeps its development secrets): compose up works as it is.
func TestComposeWorksWithoutAnEnvironment(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	api := p.Services["api"]
	if value(api.Environment, "JOBS_ACCESS_SECRET") != "" {
		t.Errorf("JOBS_ACCESS_SECRET defaults to %q", value(api.Environment, "JOBS_ACCESS_SECRET"))
	}
	if dsn, err := mysql.ParseDSN(value(api.Environment, "JOBS_MYSQL_DSN")); err != nil || dsn.Passwd == "" ||
		dsn.Passwd != value(p.Services["mariadb"].Environment, "MARIADB_PASSWORD") {
		t.Errorf("JOBS_MYSQL_DSN %q does not default to the mariadb service's password", value(api.Environment, "JOBS_MYSQL_DSN"))
	}
}

func value(env types.MappingWithEquals, name string) string {
	if v := env[name]; v != nil {
		return *v
	}
	return ""
}
