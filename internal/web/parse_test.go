package web_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
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
		{`{"jobs": {"functionId": "a"}}`, &types.StartJobsReq{}, "jobs must be an array, not object"},
	} {
		err := web.Parse(httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(tc.body))), tc.req)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Kind != apperr.InvalidArgument || e.Message != tc.want {
			t.Errorf("%s: %v, want InvalidArgument %q", tc.body, err, tc.want)
		}
	}
}
