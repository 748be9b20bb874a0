package app_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

func TestListFiltersCombineWithPagingOnBothLists(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, noWorkers)
	a := apptest.StartApp(t, c)
	db := testutil.DB(t, c.MySQL.DataSource)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Six jobs, one a day from base, oldest first: ids[0] .. ids[5].
	var ids []string
	for i := range 6 {
		body := map[string]any{"functionId": "echo", "name": []string{"nightly", "adhoc"}[i%2],
			"actor": []string{"alice", "bob", "carol"}[i%3], "env": "prod"}
		id := a.StartJob(body).Id
		created := base.Add(time.Duration(i) * 24 * time.Hour)
		testutil.Exec(t, db, "UPDATE jobs SET created_at = ? WHERE id = ?", created, id)
		ids = append(ids, id)
	}
	other := a.As("tenant-b", "mallory").StartJob(map[string]any{"functionId": "echo", "name": "nightly"}).Id
	rev := func(s ...string) []string { s = slices.Clone(s); slices.Reverse(s); return s }
	ms := func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

	cases := []struct {
		query string
		want  []string
		total int64
	}{
		{"", rev(ids...), 6},
		{"?order=asc", ids, 6},
		{"?name=nightly", rev(ids[0], ids[2], ids[4]), 3},
		{"?name=nightly&actor=alice", []string{ids[0]}, 1},
		{"?ids=" + ids[1] + "," + ids[4] + "," + other + "," + ids[1], rev(ids[1], ids[4]), 2},
		{"?ids=" + ids[1] + "," + ids[4] + "&name=adhoc&order=asc", []string{ids[1]}, 1},
		{"?created_from=" + base.Add(48*time.Hour).Format(time.RFC3339), rev(ids[2:]...), 4},
		{"?created_to=" + base.Add(48*time.Hour).Format(time.RFC3339Nano), rev(ids[:2]...), 2},
		{"?created_from=" + ms(base.Add(24*time.Hour)) + "&created_to=" + ms(base.Add(72*time.Hour)) + "&order=asc", ids[1:3], 2},
		{"?created_from=2026-03-02T13:00:00%2B01:00&created_to=" + ms(base.Add(72*time.Hour)), rev(ids[1:3]...), 2},
		{"?name=adhoc&order=asc&size=2&page=2", []string{ids[5]}, 3},
		{"?size=2&page=2", rev(ids[2:4]...), 6},
		{"?status=pending&function_id=echo&env=prod&name=adhoc&actor=bob", []string{ids[1]}, 1},
		{"?status=running", []string{}, 0},
	}
	for _, tc := range cases {
		got, total := listIDs(t, a, tc.query)
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("jobs%s: %v total %d, want %v total %d", tc.query, got, total, tc.want, tc.total)
		}
		calls, total := callIDs(t, a, tc.query)
		if !slices.Equal(calls, tc.want) || total != tc.total {
			t.Errorf("function-calls%s: %v total %d, want %v total %d", tc.query, calls, total, tc.want, tc.total)
		}
	}
}

func TestBadListParametersAre400sNamingThem(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) { c.Limits.MaxPageSize = 50 }))
	many := make([]string, 101)
	for i := range many {
		many[i] = uuid.NewString()
	}
	for query, names := range map[string]string{
		"ids=" + strings.Join(many, ","):                      "ids",
		"ids=" + uuid.NewString() + ",nope":                   "ids",
		"ids=" + strings.ToUpper(uuid.NewString()):            "ids",
		"created_from=yesterday":                              "created_from",
		"created_to=2026-13-01T00:00:00Z":                     "created_to",
		"created_from=0001-01-01T00:30:00%2B01:00":            "created_from",
		"created_to=0000-01-01T00:00:00Z":                     "created_to",
		"created_from=1700000000000&created_to=1600000000000": "created_from",
		"order=newest":              "order",
		"size=51":                   "size",
		"size=0":                    "size",
		"page=0":                    "page",
		"status=done":               "status",
		"schedule_id=%C3%A9t%C3%A9": "schedule_id", // was a 500: the column is ASCII
		"schedule_id=-nightly":      "schedule_id",
	} {
		for _, path := range []string{"/api/v1/jobs?", "/api/v1/function-calls?"} {
			res := a.Do(http.MethodGet, path+query, nil)
			code, msg, _ := res.Envelope(t)
			if res.Status != http.StatusBadRequest || code != http.StatusBadRequest || !strings.HasPrefix(msg, names) {
				t.Errorf("%s%s: %d %q, want 400 naming %s", path, query, res.Status, msg, names)
			}
		}
	}
	if _, total := listIDs(t, a, "?size=50"); total != 0 {
		t.Errorf("size=50 (the configured maximum): total %d", total)
	}
}

func TestTotalIsExactUpToTheConfiguredCount(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers, func(c *config.Config) { c.Limits.ExactTotalUpTo = 3 }))
	for i := range 5 {
		a.StartJob(map[string]any{"functionId": "echo", "actor": fmt.Sprint("a", i%2)})
	}
	for query, want := range map[string]struct {
		total    int64
		estimate bool
	}{
		"":          {3, true},
		"?actor=a0": {3, false},
		"?actor=a1": {2, false},
	} {
		for _, path := range []string{"/api/v1/jobs", "/api/v1/function-calls"} {
			res := a.Do(http.MethodGet, path+query, nil)
			var got struct {
				Total           int64
				TotalIsEstimate bool
				Data            *struct {
					Total           int64
					TotalIsEstimate bool
				}
			}
			if err := jsonBody(res, &got); err != nil || res.Status != http.StatusOK {
				t.Fatalf("%s%s: %d %s", path, query, res.Status, res.Body)
			}
			if got.Data != nil {
				got.Total, got.TotalIsEstimate = got.Data.Total, got.Data.TotalIsEstimate
			}
			if got.Total != want.total || got.TotalIsEstimate != want.estimate {
				t.Errorf("%s%s: total %d estimate %v, want %d %v", path, query, got.Total, got.TotalIsEstimate, want.total, want.estimate)
			}
		}
	}
}

// A query parameter given twice was read as its first value: "status=pending&status=failed"
// listed the pending jobs only, as if the second were not there. It is a 400 naming it.
func TestRepeatedQueryParametersAre400sNamingThem(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, noWorkers))
	job := a.StartJob(map[string]any{"functionId": "echo"})
	for _, path := range []string{
		"/api/v1/jobs?status=pending&status=failed",
		"/api/v1/jobs?size=5&page=1&page=2",
		"/api/v1/function-calls?status=pending&status=failed",
		"/api/v1/jobs/" + job.Id + "/result?wait=0&wait=5",
		"/api/v1/schedules?tenant_id=" + apptest.DefaultTenant + "&tenant_id=tenant-b",
	} {
		name := path[strings.LastIndex(path, "&")+1 : strings.LastIndex(path, "=")]
		res := a.Do(http.MethodGet, path, nil)
		code, msg, _ := res.Envelope(t)
		want := name + " is given 2 times; give it once"
		if res.Status != http.StatusBadRequest || code != http.StatusBadRequest || msg != want {
			t.Errorf("%s: %d %q, want 400 %q", path, res.Status, msg, want)
		}
	}
	// An empty value is no value (go-zero's form parser skips it), and other names are left alone.
	if _, total := listIDs(t, a, "?status=&status=pending&x=1&x=2"); total != 1 {
		t.Errorf("status=&status=pending: total %d, want 1", total)
	}
}
