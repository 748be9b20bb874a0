package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"jobs/internal/apperr"
	"jobs/internal/types"
	"jobs/internal/web"
)

// startJSONFields are the body fields of a start request, as its error messages name them.
var startJSONFields = []string{"functionId", "name", "params", "actor", "gameId", "env", "idempotencyKey", "runAt",
	"maxAttempts", "timeoutSeconds", "callbackUrl"}

// FuzzParseStartJob feeds start request bodies to web.Parse: it never panics, every failure
// is an InvalidArgument whose message says what was wrong with the body or names the field
// (or the key the route does not know), and what it accepts survives a round trip through JSON.
func FuzzParseStartJob(f *testing.F) {
	for _, seed := range []string{
		`{"functionId": "echo", "params": {"a": [1, 2.5, "x", null, true]}, "maxAttempts": 3}`,
		`{"functionId": "sleep", "runAt": "2026-11-21T10:00:00Z", "idempotencyKey": "k", "timeoutSeconds": 9}`,
		`{"functionId": 7}`, `{"params": "x"}`, `[]`, `{"maxAttempts": 1e400}`, `{"a":1}{"b":2}`, `{`, ``, `null`,
		`{"name": "\u00e9\ud83d\ude00", "callbackUrl": "http://x/"}`, `{"maxAttempts": -9223372036854775809}`,
		`{"functionId": "echo", "parms": {}, "PARAMS": {"x": 1}, "\u00e9": 1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req types.StartJobReq
		err := web.Parse(httptest.NewRequest(http.MethodPost, "/api/v1/jobs", bytes.NewReader(body)), &req)
		if err != nil {
			var e *apperr.Error
			if !errors.As(err, &e) || e.Kind != apperr.InvalidArgument || e.Message == "" {
				t.Fatalf("body %q: error %v (%T) is not an InvalidArgument with a message", body, err, err)
			}
			if !strings.HasPrefix(e.Message, "request body") && !strings.HasPrefix(e.Message, `unknown field "`) &&
				!namesOneOf(e.Message, startJSONFields) {
				t.Fatalf("body %q: %q names neither the body nor a field", body, e.Message)
			}
			return
		}
		encoded, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("body %q: accepted %+v cannot be encoded: %v", body, req, err)
		}
		var again types.StartJobReq
		if err := web.Parse(httptest.NewRequest(http.MethodPost, "/api/v1/jobs", bytes.NewReader(encoded)), &again); err != nil {
			t.Fatalf("body %q: re-encoded as %s, refused: %v", body, encoded, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("body %q: %+v after a round trip, was %+v", body, again, req)
		}
	})
}

func namesOneOf(message string, fields []string) bool {
	for _, f := range fields {
		if strings.HasPrefix(message, f+" ") {
			return true
		}
	}
	return false
}
