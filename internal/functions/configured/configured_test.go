package configured_test

import (
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/functions/configured"
)

func TestFromConfigNamesTheBadFunctionAndKey(t *testing.T) {
	t.Parallel()
	good := config.FunctionConf{Id: "ok", Kind: "command", Command: config.CommandConf{Argv: []string{"true"}}}
	for _, tc := range []struct {
		name string
		fc   config.FunctionConf
		want string
	}{
		{"no id", config.FunctionConf{Kind: "command"}, `Functions[1]: Id is required`},
		{"bad id", config.FunctionConf{Id: "a b", Kind: "command"}, `Functions[1] (id "a b"): Id must be 1 to 128 letters, digits, '_', '.' or '-'`},
		{"no kind", config.FunctionConf{Id: "x"}, `Functions[1] (id "x"): Kind is required (command or http)`},
		{"bad kind", config.FunctionConf{Id: "x", Kind: "lambda"}, `Functions[1] (id "x"): Kind must be command or http, not "lambda"`},
		{"no argv", config.FunctionConf{Id: "resize", Kind: "command"}, `Functions[1] (id "resize"): Command.Argv is required (the program and its arguments)`},
		{"template program", config.FunctionConf{Id: "x", Kind: "command", Command: config.CommandConf{Argv: []string{"{{params.p}}"}}},
			`Functions[1] (id "x"): Command.Argv[0] must name the program, not a template`},
		{"partial template", config.FunctionConf{Id: "x", Kind: "command", Command: config.CommandConf{Argv: []string{"convert", "--w={{params.w}}"}}},
			`Functions[1] (id "x"): Command.Argv[1] "--w={{params.w}}": a template must be a whole argument, {{params.NAME}}`},
		{"missing dir", config.FunctionConf{Id: "x", Kind: "command", Command: config.CommandConf{Argv: []string{"true"}, Dir: "/no/such/dir"}},
			`Functions[1] (id "x"): Command.Dir "/no/such/dir" is not a directory`},
		{"bad env", config.FunctionConf{Id: "x", Kind: "command", Command: config.CommandConf{Argv: []string{"true"}, Env: map[string]string{"A=B": "c"}}},
			`Functions[1] (id "x"): Command.Env key "A=B" is not a variable name`},
		{"reserved env", config.FunctionConf{Id: "x", Kind: "command", Command: config.CommandConf{Argv: []string{"true"}, Env: map[string]string{"JOB_ID": "c"}}},
			`Functions[1] (id "x"): Command.Env must not set JOB_ID (the job sets it)`},
		{"exit code 0", config.FunctionConf{Id: "x", Kind: "command", Command: config.CommandConf{Argv: []string{"true"}, PermanentExitCodes: []int{0}}},
			`Functions[1] (id "x"): Command.PermanentExitCodes: 0 is not an exit code of a failure (1 to 255)`},
		{"no url", config.FunctionConf{Id: "hook", Kind: "http"}, `Functions[1] (id "hook"): HTTP.URL is required`},
		{"bad url", config.FunctionConf{Id: "hook", Kind: "http", HTTP: config.HTTPConf{URL: "ftp://x"}},
			`Functions[1] (id "hook"): HTTP.URL "ftp://x" must be an absolute http or https URL`},
		{"negative timeout", config.FunctionConf{Id: "x", Kind: "http", Timeout: -time.Second}, `Functions[1] (id "x"): Timeout must not be negative`},
		{"attempts", config.FunctionConf{Id: "x", Kind: "http", MaxAttempts: 5000}, `Functions[1] (id "x"): MaxAttempts must be from 1 to 1000`},
		{"bad required param", config.FunctionConf{Id: "x", Kind: "http", RequiredParams: []string{"a-b"}},
			`Functions[1] (id "x"): RequiredParams[0] "a-b" is not a param name (letters, digits, '_')`},
		// Retry.MaxBackoff below Retry.Backoff stops start-up; a function's retries were capped
		// at the lower MaxBackoff in silence.
		{"max backoff under backoff", config.FunctionConf{Id: "x", Kind: "http", Backoff: 10 * time.Minute, MaxBackoff: time.Minute,
			HTTP: config.HTTPConf{URL: "http://h/x"}},
			`Functions[1] (id "x"): MaxBackoff (1m0s) must be at least Backoff (10m0s)`},
		{"duplicate", good, `Functions[1] (id "ok"): Id "ok" is used by an earlier function too`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := configured.FromConfig([]config.FunctionConf{good, tc.fc})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestFromConfigFillsDefaultsAndRequiredParams(t *testing.T) {
	t.Parallel()
	defs, err := configured.FromConfig([]config.FunctionConf{{Id: "c", Kind: "command", RequiredParams: []string{"a"},
		Command: config.CommandConf{Argv: []string{"echo", "{{params.b}}", "{{ params.a }}"}}}})
	if err != nil {
		t.Fatal(err)
	}
	d := defs[0]
	if d.Timeout != configured.DefaultTimeout || d.MaxAttempts != 1 || d.Kind != "command" || len(d.RequiredParams) != 2 ||
		d.RequiredParams[0] != "a" || d.RequiredParams[1] != "b" {
		t.Errorf("definition: %+v", d)
	}
}
