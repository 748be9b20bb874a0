package check

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"jobs/internal/app"
	"jobs/internal/config"
)

// serviceConfig loads data as the service loads its -f file and builds from it the process
// app.New builds for role, without connecting to anything (no migration; the MySQL and Redis
// clients connect lazily). The test fails if the service would refuse the config.
func serviceConfig(t *testing.T, data []byte, role string) config.Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var c config.Config
	if err := config.Load(file, &c); err != nil { // not go-zero's conf.Load, which takes any misspelt key
		t.Fatalf("the service refuses the config: %v", err)
	}
	c.Role = role
	c.MySQL.Migrate = false
	a, err := app.New(context.Background(), c)
	if err != nil {
		t.Fatalf("the service refuses the config: %v", err)
	}
	if err := a.Svc.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

// configEnvVars are the environment variables the service's config reads (env= tags).
func configEnvVars() map[string]bool {
	vars := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			for _, opt := range strings.Split(f.Tag.Get("json"), ",") {
				if name, ok := strings.CutPrefix(opt, "env="); ok {
					vars[name] = true
				}
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}))
	return vars
}

func TestConfigReadsTheSecretsFromTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"JOBS_MYSQL_DSN", "JOBS_REDIS_PASSWORD", "JOBS_ACCESS_SECRET", "JOBS_CALLBACK_SECRET"} {
		if !configEnvVars()[name] {
			t.Errorf("the config reads no %s", name)
		}
	}
}
