package httpcall

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"jobs/internal/config"
	"jobs/internal/functions"
)

// A job's error is shown to whoever started the job, but the URL is the operator's and may
// carry a secret: a key in its query (Azure Functions' ?code=, a signed URL) or a password.
// The error names the endpoint without them.
func TestErrorsDoNotShowTheURLsSecrets(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	for _, base := range []string{srv.URL, deadURL} {
		u := strings.Replace(base, "http://", "http://user:pa55word@", 1) + "/run?code=s3cret-key"
		r, err := New(config.HTTPConf{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Run(context.Background(), "f", functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)})
		if err == nil {
			t.Fatalf("%s: no error", base)
		}
		msg := err.Error()
		if strings.Contains(msg, "pa55word") || strings.Contains(msg, "s3cret-key") {
			t.Errorf("error shows the URL's secrets: %q", msg)
		}
		if !strings.Contains(msg, strings.TrimPrefix(base, "http://")+"/run") {
			t.Errorf("error %q does not name the endpoint %s/run", msg, base)
		}
	}
}

// A redirect is not followed (it would turn the POST into a GET); the job fails at once
// saying where it was sent, not with an empty "HTTP 302: ".
func TestARedirectFailsNamingWhereItPointed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example.com/v2/run?sig=abc", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	r, err := New(config.HTTPConf{URL: srv.URL + "/run"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), "f", functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)})
	if !functions.IsPermanent(err) {
		t.Fatalf("error %v (permanent %v), want a permanent error", err, functions.IsPermanent(err))
	}
	if want := "POST " + srv.URL + "/run: HTTP 302, a redirect to https://elsewhere.example.com/v2/run (not followed)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
