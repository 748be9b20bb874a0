package app_test

import (
	"encoding/json"
	"jobs/internal/apptest"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func jsonBody(res apptest.Response, v any) error {
	return json.Unmarshal(res.Body, v)
}

// listIDs returns the ids and total of a job list.
func listIDs(t *testing.T, a *apptest.App, query string) ([]string, int64) {
	t.Helper()
	res := a.Do(http.MethodGet, "/api/v1/jobs"+query, nil)
	var list struct {
		Jobs  []apptest.Job
		Total int64
	}
	if res.Status != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, res.Status, res.Body)
	}
	if err := jsonBody(res, &list); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(list.Jobs))
	for i, j := range list.Jobs {
		ids[i] = j.Id
	}
	return ids, list.Total
}

// callIDs returns the ids and total of a function-call list.
func callIDs(t *testing.T, a *apptest.App, query string) ([]string, int64) {
	t.Helper()
	var list struct {
		List  []struct{ Id string }
		Total int64
	}
	a.Do(http.MethodGet, "/api/v1/function-calls"+query, nil).Data(t, &list)
	ids := make([]string, len(list.List))
	for i, c := range list.List {
		ids[i] = c.Id
	}
	return ids, list.Total
}

func TestTenantsSeeOnlyTheirOwnJobs(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	b := a.As("tenant-b", "bob")
	var mine, theirs []string
	for range 3 {
		mine = append(mine, a.StartJob(map[string]any{"functionId": "echo", "env": "prod"}).Id)
	}
	for range 2 {
		theirs = append(theirs, b.StartJob(map[string]any{"functionId": "echo", "env": "prod"}).Id)
	}
	slices.Reverse(mine) // lists are newest first
	slices.Reverse(theirs)

	for _, q := range []string{"", "?function_id=echo&env=prod", "?status=pending", "?ids=" + mine[0] + "," + theirs[0]} {
		ids, total := listIDs(t, b, q)
		want := theirs
		if strings.HasPrefix(q, "?ids=") {
			want = theirs[:1]
		}
		if !slices.Equal(ids, want) || total != int64(len(want)) {
			t.Errorf("tenant-b lists %q: %v total %d, want %v", q, ids, total, want)
		}
		calls, total := callIDs(t, b, q)
		if !slices.Equal(calls, want) || total != int64(len(want)) {
			t.Errorf("tenant-b function-calls %q: %v total %d, want %v", q, calls, total, want)
		}
	}
	if ids, total := listIDs(t, a, ""); !slices.Equal(ids, mine) || total != 3 {
		t.Errorf("tenant-a lists %v total %d, want %v", ids, total, mine)
	}

	// Another tenant's job id answers exactly like an id that does not exist.
	unknown := uuid.NewString()
	for _, id := range []string{mine[0], unknown} {
		for _, route := range [][2]string{
			{http.MethodGet, "/api/v1/jobs/" + id},
			{http.MethodGet, "/api/v1/jobs/" + id + "/result"},
			{http.MethodPost, "/api/v1/jobs/" + id + "/cancel"},
			{http.MethodGet, "/api/v1/jobs/" + id + "/stream"},
			{http.MethodGet, "/api/v1/function-calls/" + id},
		} {
			res := b.Do(route[0], route[1], nil)
			code, msg, _ := res.Envelope(t)
			if res.Status != http.StatusNotFound || code != http.StatusNotFound || msg != "job "+id+" not found" {
				t.Errorf("tenant-b %s %s: %d %q, want 404 %q", route[0], route[1], res.Status, msg, "job "+id+" not found")
			}
		}
	}
	// tenant-b's cancel changed nothing; tenant-a still owns and can cancel its job.
	if j := a.GetJob(mine[0]); j.Status != "pending" || j.TenantId != apptest.DefaultTenant {
		t.Fatalf("tenant-a's job after tenant-b's cancel: %+v", j)
	}
	a.Do(http.MethodPost, "/api/v1/jobs/"+mine[0]+"/cancel", nil).Data(t, nil)
	if j := b.GetJob(theirs[0]); j.TenantId != "tenant-b" || j.Actor != "bob" {
		t.Errorf("tenant-b's own job: %+v", j)
	}
}
