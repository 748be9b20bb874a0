package config_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/config"
	"jobs/internal/functions/configured"
)

// FuzzConfig loads fuzzed config files the way start-up does (the file check, go-zero's
// loader, then the functions): nothing panics; each unknown key and each value go-zero would
// not name is refused by name before go-zero sees the file; a bad function is refused naming
// its entry.
func FuzzConfig(f *testing.F) {
	shipped, err := os.ReadFile("../../etc/jobs.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(shipped))
	for _, seed := range []string{
		"Name: j\nHost: h\nPort: 1\nMySQL:\n  DataSouce: x\n",
		"Name: j\nHost: h\nPort: 1\nFunctions:\n  - Id: a\n    Kind: command\n    Command:\n      Argv: [echo, '{{params.x}}']\n",
		"Name: j\nHost: h\nPort: 1\nFunctions:\n  - Id: a b\n    Kind: http\n    HTTP: {URL: 'ftp://x'}\n",
		"Name: j\nHost: h\nPort: 1\nFunctions:\n  - {Id: h, Kind: http, Timeout: -1s, HTTP: {URL: 'http://x', Headers: {'a b': c}}}\n",
		"Name: j\nHost: h\nPort: 1\nWorker: {Concurrency: 99999}\n",
		"Name: j\nHost: h\nPort: 1\nfunctions:\n  - id: x\n    kind: command\n    command: {argv: ['{{params.p}}']}\n",
		"Name: j\nHost: h\nPort: 1\nLog: {Level: warn}\nCpuThreshold: 1e3\n",
		"Name: j\nHost: h\nPort: 1\nWorker: {Lease: 20, Heartbeat: '5', Concurrency: 1.5}\n",
		"Name: j\nHost: h\nPort: 1\nMode:\nRetention: {Pause: }\n", "Name: j\nHost: h\nPort: 1\nMode: 1\n",
		"- a\n- b\n", "{", "Name: [1, 2]\n", "Cors:\n  AllowOrigins: {a: b}\n",
	} {
		f.Add(seed)
	}
	named := regexp.MustCompile(`^(unknown config key \S+|\S+ (\(.*\) )?(must be|needs a unit|is not a duration))`)
	unnamed := regexp.MustCompile(`wrong number range|not defined in options|^time: |^strconv\.`)
	f.Fuzz(func(t *testing.T, yaml string) {
		if err := config.CheckFile(".yaml", []byte(yaml)); err != nil {
			if strings.HasPrefix(err.Error(), "yaml: ") {
				return
			}
			// One problem each (a key may hold a newline, so not one per line).
			problems := []error{err}
			if joined, ok := err.(interface{ Unwrap() []error }); ok {
				problems = joined.Unwrap()
			}
			for _, problem := range problems {
				if !named.MatchString(problem.Error()) {
					t.Fatalf("%q: %q is neither an unknown key, nor a value named, nor a YAML error", yaml, problem)
				}
			}
			return
		}
		var c config.Config
		if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
			if unnamed.MatchString(err.Error()) {
				t.Fatalf("%q: go-zero refuses it without naming the key: %q", yaml, err)
			}
			return // go-zero's own refusal, naming the key: a missing or ill-typed value
		}
		if _, err := configured.FromConfig(c.Functions); err != nil && !strings.HasPrefix(err.Error(), "Functions[") {
			t.Fatalf("%q: %q does not name the function", yaml, err)
		}
	})
}
