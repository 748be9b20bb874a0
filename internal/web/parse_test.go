package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"jobs/internal/apperr"
	"jobs/internal/types"
	"jobs/internal/web"
)

// A value of the wrong type is named by its path, array indexes included.
func TestParseNamesTheItemOfAWrongType(t *testing.T) {
	for _, tc := range []struct {
		body string
		req  any
		want string
	}{
		{`{"functionId": 7}`, &types.StartJobReq{}, "functionId must be a string, not number"},
		{`{"jobs": [{}, {"name": "x", "maxAttempts": "3"}]}`, &types.StartJobsReq{}, "jobs[1].maxAttempts must be an integer, not string"},
		{`{"jobs": [{"functionId": "a"}, {}, {"params": {"a": [1]}, "functionId": ["x"]}]}`, &types.StartJobsReq{}, "jobs[2].functionId must be a string, not array"},
		// encoding/json matches keys regardless of case; the answer names the field.
		{`{"JOBS": [{}, {"FunctionID": 7}]}`, &types.StartJobsReq{}, "jobs[1].functionId must be a string, not number"},
		{`{"jobs": {"functionId": "a"}}`, &types.StartJobsReq{}, "jobs must be an array, not object"},
	} {
		err := web.Parse(httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(tc.body))), tc.req)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Kind != apperr.InvalidArgument || e.Message != tc.want {
			t.Errorf("%s: %v, want InvalidArgument %q", tc.body, err, tc.want)
		}
	}
}

// A request type without query fields still refuses a query string go-zero cannot parse,
// as it did when go-zero's form parser mapped every type.
func TestParseRefusesABadQueryForABodyOnlyType(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/?a=%zz", bytes.NewReader([]byte(`{"functionId": "echo"}`)))
	var req types.StartJobReq
	err := web.Parse(r, &req)
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind != apperr.InvalidArgument || !strings.HasPrefix(e.Message, "invalid query parameter: ") {
		t.Fatalf("Parse = %v, want InvalidArgument invalid query parameter", err)
	}
	if err := web.Parse(httptest.NewRequest(http.MethodPost, "/?a=1", bytes.NewReader([]byte(`{"functionId": "echo"}`))), &req); err != nil || req.FunctionId != "echo" {
		t.Fatalf("Parse = %v, functionId %q; want echo", err, req.FunctionId)
	}
}

// A body key the route does not know is refused, named by its path, rather than ignored: a
// typo such as "parms" started the job without its params, and a bulk filter's "stauts" made
// the filter match every job. Keys inside params, which is free-form, are the function's.
func TestParseRefusesABodyKeyTheRouteDoesNotKnow(t *testing.T) {
	for _, tc := range []struct {
		body string
		req  any
		want string
	}{
		{`{"functionId": "echo", "parms": {"a": 1}}`, &types.StartJobReq{}, `unknown field "parms" (did you mean params?)`},
		{`{"functionId": "echo", "run_at": "2030-01-01T00:00:00Z"}`, &types.StartJobReq{}, `unknown field "run_at" (did you mean runAt?)`},
		{`{"functionId": "echo", "frobnicate": true}`, &types.StartJobReq{}, `unknown field "frobnicate"`},
		{`{"jobs": [{"functionId": "echo"}, {"functionId": "echo", "parms": {}}]}`, &types.StartJobsReq{},
			`unknown field "jobs[1].parms" (did you mean params?)`},
		{`{"filter": {"stauts": "running"}}`, &types.BulkReq{}, `unknown field "filter.stauts" (did you mean status?)`},
		{`{"filter": {"status": "running"}, "id": ["x"]}`, &types.BulkReq{}, `unknown field "id" (did you mean ids?)`},
		{`{"id": "nightly", "cron": "@daily", "functionId": "echo", "runAt": "x"}`, &types.CreateScheduleReq{}, `unknown field "runAt"`},
		// Every unknown key is named, not only the first.
		{`{"functionId": "echo", "zz": 1, "actr": "x"}`, &types.StartJobReq{},
			`unknown field "actr" (did you mean actor?); unknown field "zz"`},
	} {
		err := web.Parse(httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(tc.body))), tc.req)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Kind != apperr.InvalidArgument || e.Message != tc.want {
			t.Errorf("%s: %v, want InvalidArgument %q", tc.body, err, tc.want)
		}
	}
}

// What the route knows is taken as before: params with any keys, keys in any case (as
// encoding/json matches them), and a bulk filter by schedule_id, one of the list's filters.
func TestParseTakesTheKeysTheRouteKnows(t *testing.T) {
	var start types.StartJobReq
	body := `{"FunctionID": "echo", "params": {"parms": 1, "nested": {"stauts": [{"x": null}]}}, "runAt": "2030-01-01T00:00:00Z"}`
	if err := web.Parse(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)), &start); err != nil {
		t.Fatalf("start with free-form params: %v", err)
	}
	if start.FunctionId != "echo" || start.RunAt == "" || start.Params.(map[string]any)["parms"] == nil {
		t.Errorf("start parsed as %+v", start)
	}
	var bulk types.BulkReq
	if err := web.Parse(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"filter": {"schedule_id": "tick"}}`)), &bulk); err != nil {
		t.Fatalf("bulk by schedule_id: %v", err)
	}
	if bulk.Filter == nil || bulk.Filter.ScheduleId != "tick" {
		t.Errorf("bulk parsed as %+v", bulk.Filter)
	}
}

// The keys a body may have are those encoding/json fills: an embedded struct's at its
// parent's level, none of a json:"-" field, anything inside raw JSON, and a struct's inside
// a map.
func TestParseKnowsTheKeysEncodingJSONFills(t *testing.T) {
	type inner struct {
		A string `json:"a"`
	}
	type request struct {
		inner
		Raw   json.RawMessage  `json:"raw"`
		Items map[string]inner `json:"items"`
		Skip  string           `json:"-"`
	}
	var req request
	body := `{"A": "x", "raw": {"q": [1]}, "items": {"k": {"a": "y"}}}`
	if err := web.Parse(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)), &req); err != nil || req.A != "x" || req.Items["k"].A != "y" {
		t.Errorf("%s: %v, parsed as %+v", body, err, req)
	}
	body = `{"items": {"k": {"zz": 1}}}`
	if err := web.Parse(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)), &req); err == nil || err.Error() != `unknown field "items.k.zz"` {
		t.Errorf("%s: %v, want the struct's unknown key inside the map named", body, err)
	}
	err := web.Parse(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"skip": "x", "inner": {}}`)), &req)
	if err == nil || err.Error() != `unknown field "inner"; unknown field "skip"` {
		t.Errorf("json:\"-\" and embedded struct names as keys: %v", err)
	}
}
