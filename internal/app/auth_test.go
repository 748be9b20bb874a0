package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/uuid"
	"github.com/zeromicro/go-zero/rest"

	"jobs/internal/apptest"
	"jobs/internal/handler"
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

// everyRoute is one request per /api/v1 route, on job id (and schedule outageSchedule).
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
		{http.MethodPost, "/api/v1/jobs/" + id + "/rerun"},
		{http.MethodPost, "/api/v1/jobs/cancel"},
		{http.MethodPost, "/api/v1/jobs/rerun"},
		{http.MethodPost, "/api/v1/jobs/batch"},
		{http.MethodGet, "/api/v1/events"},
		{http.MethodGet, "/api/v1/stats"},
		{http.MethodPost, "/api/v1/schedules"},
		{http.MethodGet, "/api/v1/schedules"},
		{http.MethodGet, "/api/v1/schedules/" + outageSchedule},
		{http.MethodPost, "/api/v1/schedules/" + outageSchedule + "/pause"},
		{http.MethodPost, "/api/v1/schedules/" + outageSchedule + "/resume"},
		{http.MethodPost, "/api/v1/schedules/" + outageSchedule + "/trigger"},
		{http.MethodDelete, "/api/v1/schedules/" + outageSchedule},
	}
}

// outageSchedule is the schedule everyRoute's schedule routes name, which outageBody creates.
const outageSchedule = "every-route"

// The tests that go through everyRoute cover a route only if it is listed there: it lists
// exactly the routes handler.RegisterHandlers registers.
func TestEveryRouteListsEachRegisteredRoute(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	server, err := rest.NewServer(a.Config.RestConf)
	if err != nil {
		t.Fatal(err)
	}
	handler.RegisterHandlers(server, a.Svc)
	const id = "some-job"
	// pattern writes a path's parameters, named (":id") or filled in (id, outageSchedule), as ":".
	pattern := func(method, path string) string {
		segments := strings.Split(path, "/")
		for i, s := range segments {
			if strings.HasPrefix(s, ":") || s == id || s == outageSchedule {
				segments[i] = ":"
			}
		}
		return method + " " + strings.Join(segments, "/")
	}
	routes := everyRoute(id)
	listed := map[string]bool{}
	for _, route := range routes {
		listed[pattern(route[0], route[1])] = true
	}
	registered := map[string]bool{}
	for _, route := range server.Routes() {
		p := pattern(route.Method, route.Path)
		registered[p] = true
		if !listed[p] {
			t.Errorf("%s %s is registered but not in everyRoute", route.Method, route.Path)
		}
	}
	for _, route := range routes {
		if !registered[pattern(route[0], route[1])] {
			t.Errorf("everyRoute's %s %s is not a registered route", route[0], route[1])
		}
	}
}

func TestEveryRouteRejectsMissingForgedAndExpiredTokens(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	secret := a.Config.Auth.AccessSecret
	exp := time.Now().Add(time.Hour).Unix()
	withAlg := func(method jwt.SigningMethod, key any) string {
		token, err := jwt.NewWithClaims(method, jwt.MapClaims{"tenant": apptest.DefaultTenant, "exp": exp}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	cases := []struct {
		name, token, message string
	}{
		{"missing", "", "missing access token"},
		{"forged", sign(t, "some-other-secret", jwt.MapClaims{"tenant": apptest.DefaultTenant, "exp": exp}), "signature does not match this server's Auth.AccessSecret"},
		{"expired", sign(t, secret, jwt.MapClaims{"tenant": apptest.DefaultTenant, "exp": time.Now().Add(-time.Minute).Unix()}), "expired"},
		{"garbage", "not.a.token", "malformed"},
		{"HS384", withAlg(jwt.SigningMethodHS384, []byte(secret)), "must be signed with HS256, not HS384"},
		{"HS512", withAlg(jwt.SigningMethodHS512, []byte(secret)), "must be signed with HS256, not HS512"},
		{"unsigned", withAlg(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), "must be signed with HS256, not none"},
		{"no tenant", sign(t, secret, jwt.MapClaims{"actor": "alice", "exp": exp}), "no tenant claim"},
		{"numeric tenant", sign(t, secret, jwt.MapClaims{"tenant": 7, "exp": exp}), "tenant claim must be a string"},
		{"array tenant", sign(t, secret, jwt.MapClaims{"tenant": []string{"t1"}, "exp": exp}), "tenant claim must be a string"},
		{"empty tenant", sign(t, secret, jwt.MapClaims{"tenant": "", "exp": exp}), "tenant must be 1 to 64 characters"},
		{"10 KB tenant", sign(t, secret, jwt.MapClaims{"tenant": strings.Repeat("t", 10240), "exp": exp}), "tenant must be 1 to 64 characters"},
		{"padded tenant", sign(t, secret, jwt.MapClaims{"tenant": apptest.DefaultTenant + " ", "exp": exp}), "tenant must be"},
		{"non-ASCII tenant", sign(t, secret, jwt.MapClaims{"tenant": "tenänt", "exp": exp}), "tenant must be"},
		{"numeric actor", sign(t, secret, jwt.MapClaims{"tenant": apptest.DefaultTenant, "actor": 1, "exp": exp}), "actor claim must be a string"},
		{"actor with a space", sign(t, secret, jwt.MapClaims{"tenant": apptest.DefaultTenant, "actor": "a b", "exp": exp}), "actor must be"},
	}
	for _, tc := range cases {
		caller := a.WithToken(tc.token)
		for _, route := range everyRoute(job.Id) {
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
	// The widest tenant and actor the rules allow are accepted.
	wide := sign(t, secret, jwt.MapClaims{"tenant": "T" + strings.Repeat("a.b_c-", 10) + "xyz", "actor": strings.Repeat("a@b+c.d_e-", 12) + "fghijklm", "exp": exp})
	if res := a.WithToken(wide).Do(http.MethodGet, "/api/v1/jobs", nil); res.Status != http.StatusOK {
		t.Errorf("the widest tenant and actor allowed: %d %s", res.Status, res.Body)
	}
}

func TestActorDefaultsToTheTokens(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
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
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	a.Do(http.MethodPost, "/api/v1/jobs/"+job.Id+"/cancel", nil).Data(t, nil) // terminal: a stream ends at once
	token := a.Token(apptest.DefaultTenant, "viewer", time.Hour)
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
	forged := sign(t, "some-other-secret", jwt.MapClaims{"tenant": apptest.DefaultTenant})
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
