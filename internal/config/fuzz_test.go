package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/zeromicro/go-zero/core/conf"

	"jobs/internal/config"
	"jobs/internal/functions/configured"
)

// FuzzConfig loads fuzzed config files the way start-up does (the key check, go-zero's
// loader, then the functions): nothing panics; an unknown key is refused by name before
// go-zero sees the file; a bad function is refused naming its entry.
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
		"- a\n- b\n", "{", "Name: [1, 2]\n", "Cors:\n  AllowOrigins: {a: b}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, yaml string) {
		if err := config.CheckKeys(".yaml", []byte(yaml)); err != nil {
			if !strings.HasPrefix(err.Error(), "unknown config key ") && !strings.HasPrefix(err.Error(), "yaml: ") {
				t.Fatalf("%q: %q is neither an unknown key nor a YAML error", yaml, err)
			}
			return
		}
		var c config.Config
		if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
			return // go-zero's own refusal: a missing or ill-typed value
		}
		if _, err := configured.FromConfig(c.Functions); err != nil && !strings.HasPrefix(err.Error(), "Functions[") {
			t.Fatalf("%q: %q does not name the function", yaml, err)
		}
	})
}
