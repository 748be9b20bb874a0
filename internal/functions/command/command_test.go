package command

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"jobs/internal/config"
	"jobs/internal/functions"
)

type discard struct{}

func (discard) Progress(int64, int64, string) {}
func (discard) Log(string, string)            {}

// A job whose params are over what Linux passes in one environment string (a job stored
// before its function's MaxParamsBytes applied, or its rerun) fails at once, saying why: exec
// refuses it (E2BIG) every time, and it was retried as if it could pass.
func TestParamsTooLargeToExecFailPermanently(t *testing.T) {
	t.Parallel()
	r, err := New(config.CommandConf{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 200<<10)})
	_, err = r.Run(context.Background(), functions.Call{JobID: "j", Attempt: 1, Params: params}, discard{})
	if !functions.IsPermanent(err) || !strings.Contains(err.Error(), "argument list too long") || !strings.Contains(err.Error(), "JOB_PARAMS") {
		t.Errorf("params of %d bytes: %v (permanent %v), want a permanent error naming JOB_PARAMS", len(params), err, functions.IsPermanent(err))
	}
}
