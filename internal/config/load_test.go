package config_test

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/config"
)

func TestCheckFileNamesTheUnknownKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"MySQL:\n  DataSouce: x\n", "unknown config key MySQL.DataSouce (did you mean DataSource?)"},
		{"Workers:\n  Concurrency: 2\n", "unknown config key Workers (did you mean Worker?)"},
		{"Name: j\nFrobnicate: 1\n", "unknown config key Frobnicate"},
		{"Functions:\n  - Id: a\n    Kind: command\n  - Id: b\n    Command:\n      Argvv: [x]\n",
			"unknown config key Functions[1].Command.Argvv (did you mean Argv?)"},
		{"Log:\n  Levle: info\n", "unknown config key Log.Levle (did you mean Level?)"},
		{`{"Redis": {"Adr": "x"}}`, "unknown config key Redis.Adr (did you mean Addr?)"},
		// An empty key, or one with spaces, is shown quoted; an empty one is no typo of Log.
		{"'': x\n", `unknown config key ""`},
		{"MySQL:\n  '': x\n", `unknown config key MySQL.""`},
		{"'Wor ker': {}\n", `unknown config key "Wor ker" (did you mean Worker?)`},
		{"Redis:\n  \"Addr\\n\": x\n", `unknown config key Redis."Addr\n" (did you mean Addr?)`},
	} {
		err := config.CheckFile(".yaml", []byte(tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.yaml, err, tc.want)
		}
	}
}

func TestCheckFileTakesWhatGoZeroTakes(t *testing.T) {
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
		if err := config.CheckFile(".yml", []byte(yaml)); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
	if err := config.CheckFile(".toml", []byte("Anything = 1")); err != nil {
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

// Schedules declared in the file load with their tenant, cron and params (any JSON object);
// a misspelt key of an entry is named.
func TestLoadDeclaredSchedules(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/jobs.yaml"
	if err := os.WriteFile(file, []byte(`Name: j
Host: 127.0.0.1
Port: 8888
Scheduler:
  LateGrace: 2s
Schedules:
  - Tenant: t1
    Id: nightly
    Cron: "30 2 * * *"
    Timezone: Europe/Berlin
    Overlap: skip
    FunctionId: countdown
    Params: {name: Ada, steps: 3, tags: [a, b]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var c config.Config
	if err := config.Load(file, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 1 {
		t.Fatalf("schedules: %+v", c.Schedules)
	}
	s := c.Schedules[0]
	if s.Tenant != "t1" || s.Id != "nightly" || s.Cron != "30 2 * * *" || s.Timezone != "Europe/Berlin" || s.Overlap != "skip" ||
		s.Params["name"] != "Ada" || fmt.Sprint(s.Params["steps"]) != "3" || c.Scheduler.LateGrace.Seconds() != 2 || c.Scheduler.Interval == 0 {
		t.Errorf("loaded %+v, scheduler %+v", s, c.Scheduler)
	}
	err := config.CheckFile(".yaml", []byte("Schedules:\n  - Tenant: t1\n    Crn: '@hourly'\n"))
	if err == nil || !strings.Contains(err.Error(), "Schedules[0].Crn (did you mean Cron?)") {
		t.Errorf("misspelt key: %v", err)
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

// load writes yaml to a file and loads it as jobs serve does.
func load(t *testing.T, yaml string) (config.Config, error) {
	t.Helper()
	file := t.TempDir() + "/jobs.yaml"
	if err := os.WriteFile(file, []byte("Name: j\nHost: 127.0.0.1\nPort: 8888\n"+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var c config.Config
	err := config.Load(file, &c)
	return c, err
}

// A value go-zero refuses without naming it (out of a range= tag, not among an options= tag,
// a duration without its unit, a fraction for a whole number) is refused naming the key, as
// the file spells it, and what it may be.
func TestLoadNamesTheKeyOfARefusedValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"Worker:\n  Concurrency: 99999\n", "Worker.Concurrency (99999) must be between 0 and 10000"},
		{"worker:\n  concurrency: -1\n", "worker.concurrency (-1) must be between 0 and 10000"},
		{"Worker:\n  Concurrency: 2.5\n", "Worker.Concurrency (2.5) must be a whole number"},
		{"Limits:\n  MaxPageSize: 0\n", "Limits.MaxPageSize (0) must be between 1 and 10000"},
		{"MySQL:\n  MaxOpenConns: 1\n", "MySQL.MaxOpenConns (1) must be between 2 and 10000"},
		{"Limits:\n  MaxParamsBytes: 1\n", "Limits.MaxParamsBytes (1) must be at least 2"},
		{"Events:\n  MaxLen: 1e9\n", "Events.MaxLen (1e+09) must be between 10 and 1000000"},
		{"CpuThreshold: 1000\n", "CpuThreshold (1000) must be at least 0 and under 1000"},
		{"Role: cook\n", `Role must be api, worker or all, not "cook"`},
		{"Mode: prod\n", `Mode must be dev, test, rt, pre or pro, not "prod"`},
		{"Log:\n  Level: warn\n", `Log.Level must be debug, info, error or severe, not "warn"`},
		{"Telemetry:\n  Batcher: jaeger\n", `Telemetry.Batcher must be zipkin, otlpgrpc, otlphttp or file, not "jaeger"`},
		{"Worker:\n  Lease: 20\n", "Worker.Lease (20) needs a unit: a duration such as 20s, 500ms or 1h30m"},
		{"Worker:\n  Lease: 20x\n", `Worker.Lease ("20x") is not a duration such as 20s, 500ms or 1h30m`},
		{"Worker:\n  Lease:\n", `Worker.Lease ("") is not a duration such as 20s, 500ms or 1h30m`},
		{"Functions:\n  - Id: f\n    Timeout: 5\n", "Functions[0].Timeout (5) needs a unit"},
	} {
		_, err := load(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), "jobs.yaml: "+tc.want) {
			t.Errorf("%q: %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}

// Every range= and options= tag of Config, go-zero's own included: a value just outside it,
// which go-zero refuses, is refused naming the key and the range or the options.
func TestLoadNamesEveryRangeAndOptionsKey(t *testing.T) {
	t.Parallel()
	rules := 0
	var walk func(reflect.Type, []string)
	walk = func(typ reflect.Type, path []string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				walk(f.Type, path)
				continue
			}
			key := append(slices.Clone(path), f.Name)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key)
				continue
			}
			for _, tc := range outside(f.Tag.Get("json")) {
				rules++
				yaml := ""
				for depth, k := range key[:len(key)-1] {
					yaml += strings.Repeat("  ", depth) + k + ":\n"
				}
				yaml += strings.Repeat("  ", len(key)-1) + f.Name + ": " + tc.value + "\n"
				if err := conf.LoadFromYamlBytes([]byte("Name: j\nHost: h\nPort: 1\n"+yaml), new(config.Config)); err == nil {
					t.Errorf("%s: go-zero takes %s, which the test thought outside %s", strings.Join(key, "."), tc.value, tc.allowed)
				}
				_, err := load(t, yaml)
				if err == nil || !strings.Contains(err.Error(), strings.Join(key, ".")) || !strings.Contains(err.Error(), tc.allowed) {
					t.Errorf("%s: %s: %v, want it to name the key and %s", strings.Join(key, "."), tc.value, err, tc.allowed)
				}
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}), nil)
	if rules < 40 {
		t.Errorf("only %d values tried: are the tags still read?", rules)
	}
}

type outsideValue struct{ value, allowed string }

// outside returns values just outside a json tag's go-zero range ("[1:100]", "[2:]",
// "[0:1000)") and options ("a|b", "[a,b]"), each with a word of the allowed it must be named.
func outside(tag string) []outsideValue {
	var values []outsideValue
	if _, r, ok := strings.Cut(tag, "range="); ok {
		r = r[:strings.IndexAny(r, "])")+1]
		low, high, _ := strings.Cut(r[1:len(r)-1], ":")
		if low != "" {
			l, _ := strconv.Atoi(low)
			if r[0] == '[' {
				l--
			}
			values = append(values, outsideValue{strconv.Itoa(l), low})
		}
		if high != "" {
			h, _ := strconv.Atoi(high)
			if r[len(r)-1] == ']' {
				h++
			}
			values = append(values, outsideValue{strconv.Itoa(h), high})
		}
	}
	if _, o, ok := strings.Cut(tag, "options="); ok {
		o = strings.TrimPrefix(o, "[")
		first := o[:strings.IndexAny(o+",", "|,]")]
		values = append(values, outsideValue{"not-an-option", first})
	}
	return values
}

// An operator fixing a config sees every problem of the file at once, each naming its key,
// not one per attempt to start.
func TestCheckFileReportsEveryProblem(t *testing.T) {
	t.Parallel()
	yaml := "Name: j\nMySQL:\n  DataSouce: x\nWorker:\n  Concurrency: 99999\n  Lease: 20\n"
	want := "unknown config key MySQL.DataSouce (did you mean DataSource?)\n" +
		"Worker.Concurrency (99999) must be between 0 and 10000\n" +
		"Worker.Lease (20) needs a unit: a duration such as 20s, 500ms or 1h30m"
	if err := config.CheckFile(".yaml", []byte(yaml)); err == nil || err.Error() != want {
		t.Errorf("%v, want\n%s", err, want)
	}
	if _, err := load(t, yaml[len("Name: j\n"):]); err == nil || !strings.HasSuffix(err.Error(), "jobs.yaml: "+want) {
		t.Errorf("Load: %v, want\n%s", err, want)
	}
}

// A port no listener can have is refused at load, naming the key, not left to the listen
// (the API's "invalid port") or to the dev server, which only logs its failure and runs on
// without metrics.
func TestCheckFileRefusesAPortOutOfRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"Port: 70000\n", "Port (70000) must be between 1 and 65535"},
		{"Port: 0\n", "Port (0) must be between 1 and 65535"},
		{"port: -1\n", "port (-1) must be between 1 and 65535"},
		{"Port: 1\nDevServer:\n  Enabled: true\n  Port: 65536\n", "DevServer.Port (65536) must be between 1 and 65535"},
		{"Port: 1\nDevServer:\n  Port: 0\n", "DevServer.Port (0) must be between 1 and 65535"},
	} {
		err := config.CheckFile(".yaml", []byte("Name: j\nHost: h\n"+tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.yaml, err, tc.want)
		}
	}
	for _, yaml := range []string{"Port: 1\n", "Port: 65535\nDevServer:\n  Port: 1\n"} {
		if err := config.CheckFile(".yaml", []byte("Name: j\nHost: h\n"+yaml)); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}
