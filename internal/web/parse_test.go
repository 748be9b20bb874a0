package web_test

import (
	"bytes"
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
