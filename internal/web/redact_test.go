package web_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"jobs/internal/web"
)

func TestRedactRemovesEveryCredential(t *testing.T) {
	t.Parallel()
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ0MSJ9.c2lnbmF0dXJlX3NlY3JldA"
	const unsigned = "eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJ0MSJ9."
	basic := base64.StdEncoding.EncodeToString([]byte("x:" + jwt))
	for _, tc := range []struct{ in, secret string }{
		{"GET /api/v1/jobs?token=" + jwt + "&size=1 HTTP/1.1", jwt},
		{"GET /api/v1/jobs?jwt=" + jwt, jwt},
		{"GET /api/v1/jobs/x/stream?access_token=opaque-0123456789", "opaque-0123456789"},
		// Encoded as the service still reads it: the name's _ and the token's dots.
		{"GET /api/v1/jobs/x/stream?size=1&access%5Ftoken=eyJhbGciOiJIUzI1NiJ9%2EeyJ0ZW5hbnQiOiJ0MSJ9%2Ec2lnbmF0dXJlX3NlY3JldA", "c2lnbmF0dXJl"},
		{"GET /api/v1/jobs/x/stream?%61ccess_token=opaque-0123456789", "opaque-0123456789"},
		{"Authorization: Bearer " + jwt + "\r\n", jwt},
		{"authorization: bearer opaque-token\r\n", "opaque-token"},
		{"Authorization: Basic " + basic + "\r\n", basic},
		{"Proxy-Authorization: Basic " + basic + "\r\n", basic},
		{"X-Access-Token: " + jwt + "\r\n", jwt},
		{"Cookie: theme=dark; session=" + jwt + "; lang=en\r\n", jwt},
		{"User-Agent: curl/8 " + unsigned + "\r\n", unsigned},
		// As go-zero's JSON log encodes a request dump.
		{`{"content":"GET / HTTP/1.1\r\nAuthorization: Bearer ` + jwt + `\r\nHost: x"}`, jwt},
	} {
		got := web.Redact(tc.in)
		if strings.Contains(got, tc.secret) || strings.Contains(got, "c2lnbmF0dXJl") || !strings.Contains(got, web.Redacted) {
			t.Errorf("Redact(%q) = %q", tc.in, got)
		}
	}
	// What is not a credential stays.
	for _, keep := range []string{
		"GET /api/v1/jobs?function_id=images.resize.v2&size=1 - api.example.com - Go-http-client/1.1",
		"job 01900000-0000-7000-8000-000000000000 not found",
	} {
		if got := web.Redact(keep); got != keep {
			t.Errorf("Redact(%q) = %q", keep, got)
		}
	}
}
