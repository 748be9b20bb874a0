package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"jobs/internal/config"
)

// FuzzCommandTemplating builds a command from a fuzzed argv (entries separated by NUL) and
// renders it with fuzzed params: nothing panics; a config error names Command.Argv; a
// refusal names the param; an accepted argv has one argument per template entry, literals
// as written, and each param as exactly its value, one argument that cannot read as an
// option or hold a control character.
func FuzzCommandTemplating(f *testing.F) {
	f.Add("./run.sh\x00--size\x00{{params.size}}\x00{{ params.file }}", `{"size": 1.5, "file": "a b.txt"}`)
	f.Add("echo\x00{{params.x}}", `{"x": "-rf"}`)
	f.Add("echo\x00{{params.x}}", `{"x": "line\nbreak"}`)
	f.Add("echo\x00{{params.x}}", `{"x": "$(reboot); `+"`id`"+` | cat"}`)
	f.Add("echo\x00--w={{params.w}}", `{"w": 3}`)
	f.Add("{{params.p}}", `{"p": "sh"}`)
	f.Add("echo\x00{{params.x}}", `{"x": {"nested": true}}`)
	f.Add("echo\x00{{params.x}}", `{"x": null}`)
	f.Add("echo\x00{{params.x}}", `{"x": false}`)
	f.Fuzz(func(t *testing.T, argv, paramsJSON string) {
		cc := config.CommandConf{Argv: strings.Split(argv, "\x00")}
		cmd, err := New(cc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Command.Argv") {
				t.Fatalf("argv %q: %q does not name Command.Argv", argv, err)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(paramsJSON)))
		dec.UseNumber()
		var params map[string]any
		if dec.Decode(&params) != nil {
			return // the API refuses bodies whose params are not an object first
		}
		args, err := cmd.render(params)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "params.") {
				t.Fatalf("argv %q, params %s: %q does not name the param", argv, paramsJSON, err)
			}
			return
		}
		if len(args) != len(cc.Argv) {
			t.Fatalf("argv %q rendered as %d arguments: %q", argv, len(args), args)
		}
		for i, a := range cmd.argv {
			if a.param == "" {
				if args[i] != cc.Argv[i] {
					t.Fatalf("literal %q rendered as %q", cc.Argv[i], args[i])
				}
				continue
			}
			if strings.HasPrefix(args[i], "-") || strings.ContainsFunc(args[i], unicode.IsControl) || !utf8.ValidString(args[i]) ||
				args[i] != fmt.Sprint(params[a.param]) {
				t.Fatalf("params.%s = %#v rendered as %q", a.param, params[a.param], args[i])
			}
		}
	})
}
