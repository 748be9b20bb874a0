package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/uuid"

	"jobs/internal/testutil"
)

// sign returns an HS256 token with exactly claims, signed with secret.
func sign(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// everyRoute is one request per /api/v1 route, on job id.
func everyRoute(id string) [][2]string {
	return [][2]string{
		{http.MethodGet, "/api/v1/functions"},
		{http.MethodPost, "/api/v1/jobs"},
		{http.MethodGet, "/api/v1/jobs"},
		{http.MethodGet, "/api/v1/jobs/" + id},
		{http.MethodGet, "/api/v1/jobs/" + id + "/result"},
		{http.MethodPost, "/api/v1/jobs/" + id + "/cancel"},
		{http.MethodGet, "/api/v1/jobs/" + id + "/stream"},
		{http.MethodGet, "/api/v1/function-calls"},
		{http.MethodGet, "/api/v1/function-calls/" + id},
	}
}

func TestEveryRouteRejectsMissingForgedAndExpiredTokens(t *testing.T) {
	t.Parallel()
	a := testutil.StartApp(t, testutil.Config(t, noWorkers))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	secret := a.Config.Auth.AccessSecret
	now := time.Now()
	cases := []struct {
		name, token, message string
	}{
		{"missing", "", "missing access token"},
		{"forged", sign(t, "some-other-secret", jwt.MapClaims{"tenant": testutil.DefaultTenant, "exp": now.Add(time.Hour).Unix()}), "not valid"},
		{"expired", sign(t, secret, jwt.MapClaims{"tenant": testutil.DefaultTenant, "exp": now.Add(-time.Minute).Unix()}), "expired"},
		{"garbage", "not.a.token", "malformed"},
		{"no tenant", sign(t, secret, jwt.MapClaims{"actor": "alice", "exp": now.Add(time.Hour).Unix()}), "no tenant claim"},
		{"empty tenant", sign(t, secret, jwt.MapClaims{"tenant": "", "exp": now.Add(time.Hour).Unix()}), "tenant"},
	}
	for _, tc := range cases {
		caller := a.WithToken(tc.token)
		for _, route := range everyRoute(job.Id) {
			if tc.name == "no tenant" || tc.name == "empty tenant" {
				if route[1] == "/api/v1/functions" {
					continue // the function list is the same for every tenant
				}
			}
			res := caller.Do(route[0], route[1], `{"functionId": "echo"}`)
			code, msg, _ := res.Envelope(t)
			if res.Status != http.StatusUnauthorized || code != http.StatusUnauthorized || !strings.Contains(msg, tc.message) {
				t.Errorf("%s token, %s %s: %d code %d %q, want 401 saying %q", tc.name, route[0], route[1], res.Status, code, msg, tc.message)
			}
		}
	}
	// Nothing was started by the rejected requests.
	var list struct{ Total int64 }
	if err := jsonBody(a.Do(http.MethodGet, "/api/v1/jobs", nil), &list); err != nil || list.Total != 1 {
		t.Fatalf("jobs after rejected starts: %d (%v), want 1", list.Total, err)
	}
}

func TestActorDefaultsToTheTokens(t *testing.T) {
	t.Parallel()
	a := testutil.StartApp(t, testutil.Config(t, noWorkers))
	alice := a.As("tenant-x", "alice")
	own := alice.StartJob(map[string]any{"functionId": "echo"})
	if own.Actor != "alice" || own.TenantId != "tenant-x" {
		t.Errorf("job started with alice's token: actor %q tenant %q", own.Actor, own.TenantId)
	}
	onBehalf := alice.StartJob(map[string]any{"functionId": "echo", "actor": "scheduler"})
	if onBehalf.Actor != "scheduler" {
		t.Errorf("explicit actor: %q, want scheduler", onBehalf.Actor)
	}
}

func TestStreamRouteTakesTheTokenFromTheQuery(t *testing.T) {
	t.Parallel()
	a := testutil.StartApp(t, testutil.Config(t, noWorkers))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil) // terminal: a stream ends at once
	token := a.Token(testutil.DefaultTenant, "viewer", time.Hour)
	bare := a.WithToken("")

	res := bare.Do(http.MethodGet, "/api/v1/jobs/"+job.Id+"/stream?access_token="+token, nil)
	if res.Status == http.StatusUnauthorized || res.Status == http.StatusNotFound {
		t.Errorf("stream with a query token: %d %s", res.Status, res.Body)
	}
	// The token is checked like a header token, and scoped to its tenant.
	other := a.Token("tenant-b", "bob", time.Hour)
	if res := bare.Do(http.MethodGet, "/api/v1/jobs/"+job.Id+"/stream?access_token="+other, nil); res.Status != http.StatusNotFound {
		t.Errorf("another tenant's query token: %d %s, want 404", res.Status, res.Body)
	}
	forged := sign(t, "some-other-secret", jwt.MapClaims{"tenant": testutil.DefaultTenant})
	if res := bare.Do(http.MethodGet, "/api/v1/jobs/"+job.Id+"/stream?access_token="+forged, nil); res.Status != http.StatusUnauthorized {
		t.Errorf("forged query token: %d %s, want 401", res.Status, res.Body)
	}
	if res := bare.Do(http.MethodGet, "/api/v1/jobs/"+uuid.NewString()+"/stream?access_token="+token, nil); res.Status != http.StatusNotFound {
		t.Errorf("unknown job with a query token: %d %s, want 404", res.Status, res.Body)
	}
	// Other routes take the header only.
	if res := bare.Do(http.MethodGet, "/api/v1/jobs/"+job.Id+"?access_token="+token, nil); res.Status != http.StatusUnauthorized {
		t.Errorf("detail with a query token: %d %s, want 401", res.Status, res.Body)
	}
}
