package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"jobs/internal/apptest"
	"jobs/internal/config"
	"jobs/internal/testutil"
)

// seeded is a job as the tests arranged it: started through the API, then moved to its
// status and times directly in MySQL.
type seeded struct {
	Id, FunctionId, Name, Status, Actor, GameId, Env, Error string
	Params                                                  string  // compact JSON
	Result                                                  *string // compact JSON; nil is null
	Attempt, MaxAttempts                                    int64
	CreatedAt                                               time.Time
	StartedAt, FinishedAt                                   *time.Time
}

var seedStatuses = []string{"pending", "running", "completed", "failed", "cancelled"}

// seedJobs starts n jobs with varied functionId, actor, gameId and env on an app without
// workers, then gives them varied statuses and creation times (with ties, and in an order
// unrelated to their ids) in MySQL.
func seedJobs(t *testing.T, a *apptest.App, c config.Config, n int) []seeded {
	t.Helper()
	db := testutil.DB(t, c.MySQL.DataSource)
	fns := []string{"echo", "sleep", "fail"}
	maxAttempts := map[string]int64{"echo": 3, "sleep": 3, "fail": 1}
	actors := []string{"alice", "bob", "carol", "dave"}
	games := []string{"g1", "g2", "g3"}
	envs := []string{"dev", "prod"}
	base := time.Date(2030, 1, 2, 3, 4, 5, 123_000_000, time.UTC)
	const dbTime = "2006-01-02 15:04:05.000"

	jobs := make([]seeded, n)
	for i := range jobs {
		s := seeded{
			FunctionId: fns[i%3], Name: fmt.Sprintf("job-%02d", i), Actor: actors[i%4],
			GameId: games[(i/3)%3], Env: envs[(i/5)%2], Params: fmt.Sprintf(`{"i":%d}`, i),
			Status: seedStatuses[(i*3)%5],
		}
		s.MaxAttempts = maxAttempts[s.FunctionId]
		job := a.StartJob(map[string]any{"functionId": s.FunctionId, "name": s.Name, "params": map[string]any{"i": i},
			"actor": s.Actor, "gameId": s.GameId, "env": s.Env})
		s.Id = job.Id
		// 12 creation times: two or three jobs share each, and their order is not the ids' order.
		s.CreatedAt = base.Add(time.Duration((i*7)%12) * time.Second)
		started := s.CreatedAt.Add(time.Duration(i%4+1) * 250 * time.Millisecond)
		finished := started.Add(time.Second + time.Duration((i*37)%1000)*time.Millisecond)

		var startedAt, finishedAt, result any // nil is NULL
		switch s.Status {
		case "running":
			s.StartedAt, s.Attempt = &started, 1
		case "completed":
			r := fmt.Sprintf(`{"echoed":%d}`, i)
			s.StartedAt, s.FinishedAt, s.Result, s.Attempt = &started, &finished, &r, 1
		case "failed":
			s.StartedAt, s.FinishedAt, s.Attempt, s.Error = &started, &finished, 1, fmt.Sprintf("boom %d", i)
		case "cancelled": // while pending: never started
			s.FinishedAt = &finished
		}
		if s.StartedAt != nil {
			startedAt = s.StartedAt.Format(dbTime)
		}
		if s.FinishedAt != nil {
			finishedAt = s.FinishedAt.Format(dbTime)
		}
		if s.Result != nil {
			result = *s.Result
		}
		res, err := db.Exec("UPDATE jobs SET status = ?, created_at = ?, started_at = ?, finished_at = ?, result = ?, "+
			"error = ?, attempt = ? WHERE id = ?",
			s.Status, s.CreatedAt.Format(dbTime), startedAt, finishedAt, result, s.Error, s.Attempt, s.Id)
		if err != nil {
			t.Fatalf("seed job %d: %v", i, err)
		}
		if rows, _ := res.RowsAffected(); rows != 1 {
			t.Fatalf("seed job %d: %d rows updated", i, rows)
		}
		jobs[i] = s
	}
	return jobs
}

// seedExpect returns the seeded jobs matching q's filters, newest first (ties by id, descending),
// and the page of them that q asks for.
func seedExpect(jobs []seeded, q url.Values) (all, page []seeded) {
	for _, s := range jobs {
		if (q.Get("status") == "" || s.Status == q.Get("status")) &&
			(q.Get("function_id") == "" || s.FunctionId == q.Get("function_id")) &&
			(q.Get("actor") == "" || s.Actor == q.Get("actor")) &&
			(q.Get("game_id") == "" || s.GameId == q.Get("game_id")) &&
			(q.Get("env") == "" || s.Env == q.Get("env")) {
			all = append(all, s)
		}
	}
	slices.SortFunc(all, func(x, y seeded) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.Id, x.Id)
	})
	p, size := seedPaging(q)
	from := min((p-1)*size, len(all))
	to := min(from+size, len(all))
	return all, all[from:to]
}

// seedPaging is the page and size q asks for, with API.md's defaults.
func seedPaging(q url.Values) (page, size int) {
	page, size = 1, 20
	if q.Has("page") {
		fmt.Sscan(q.Get("page"), &page)
	}
	if q.Has("size") {
		fmt.Sscan(q.Get("size"), &size)
	}
	return page, size
}

func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func apiTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := apiTime(*t)
	return &s
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("not JSON: %q: %v", raw, err)
	}
	return buf.String()
}

func eqStrPtr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// jobItemKeys are the JobItem fields of API.md (result only outside lists).
var jobItemKeys = []string{"id", "functionId", "name", "status", "params", "error", "progress", "total", "message",
	"actor", "gameId", "env", "attempt", "maxAttempts", "createdAt", "startedAt", "finishedAt"}

type jobList struct {
	Jobs  []json.RawMessage `json:"jobs"`
	Total int64             `json:"total"`
	Page  int64             `json:"page"`
	Size  int64             `json:"size"`
}

// getJobList reads GET /api/v1/jobs?q and checks its shape: a bare (unenveloped) object of
// exactly jobs, total, page and size, with jobs never null.
func getJobList(t *testing.T, a *apptest.App, q url.Values) jobList {
	t.Helper()
	res := a.Do(http.MethodGet, "/api/v1/jobs?"+q.Encode(), nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list ?%s: %d %s", q.Encode(), res.Status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("list Content-Type = %q", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &top); err != nil {
		t.Fatalf("list ?%s: %v: %s", q.Encode(), err, res.Body)
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"jobs", "page", "size", "total", "totalIsEstimate"}) {
		t.Errorf("list ?%s has keys %v, want exactly jobs, page, size, total, totalIsEstimate (no envelope)", q.Encode(), keys)
	}
	if string(top["jobs"]) == "null" {
		t.Errorf("list ?%s: jobs is null, want []", q.Encode())
	}
	var list jobList
	if err := json.Unmarshal(res.Body, &list); err != nil {
		t.Fatal(err)
	}
	return list
}

// checkListItem compares one list item with the seeded job it should be.
func checkListItem(t *testing.T, where string, raw json.RawMessage, want seeded) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if _, ok := fields["result"]; ok {
		t.Errorf("%s: list item has a result key: %s", where, raw)
	}
	for _, k := range jobItemKeys {
		if _, ok := fields[k]; !ok {
			t.Errorf("%s: list item has no %q: %s", where, k, raw)
		}
	}
	var got apptest.Job
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Id != want.Id || got.FunctionId != want.FunctionId || got.Name != want.Name || got.Status != want.Status ||
		got.Actor != want.Actor || got.GameId != want.GameId || got.Env != want.Env || got.Error != want.Error ||
		got.Attempt != want.Attempt || got.MaxAttempts != want.MaxAttempts || got.Progress != 0 || got.Total != 0 ||
		compactJSON(t, got.Params) != want.Params || got.CreatedAt != apiTime(want.CreatedAt) ||
		!eqStrPtr(got.StartedAt, apiTimePtr(want.StartedAt)) || !eqStrPtr(got.FinishedAt, apiTimePtr(want.FinishedAt)) {
		t.Errorf("%s: item %s\nwant %+v", where, raw, want)
	}
}

func ids(jobs []seeded) []string {
	out := make([]string, len(jobs))
	for i, s := range jobs {
		out[i] = s.Id
	}
	return out
}

func itemIds(t *testing.T, items []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(items))
	for i, raw := range items {
		var item struct{ Id string }
		if err := json.Unmarshal(raw, &item); err != nil {
			t.Fatal(err)
		}
		out[i] = item.Id
	}
	return out
}

// listQueries are the filter and paging combinations both lists are checked with.
func listQueries(jobs []seeded) []url.Values {
	pick := jobs[7]
	qs := []url.Values{
		{},
		{"page": {"2"}},
		{"page": {"3"}},
		{"size": {"100"}},
		{"size": {"1"}, "page": {"33"}},
		{"size": {"1"}, "page": {"34"}},
		{"function_id": {"sleep"}},
		{"function_id": {"fail"}},
		{"actor": {"bob"}},
		{"game_id": {"g2"}},
		{"env": {"prod"}},
		{"status": {"pending"}, "actor": {"alice"}},
		{"function_id": {"echo"}, "game_id": {"g1"}, "env": {"dev"}},
		{"status": {"completed"}, "function_id": {"echo"}},
		{"status": {"pending"}, "size": {"2"}, "page": {"2"}},
		{"env": {"dev"}, "size": {"4"}, "page": {"3"}},
		{"status": {pick.Status}, "function_id": {pick.FunctionId}, "actor": {pick.Actor}, "game_id": {pick.GameId}, "env": {pick.Env}},
		{"actor": {"nobody"}},
		{"status": {"running"}, "function_id": {"nope"}},
		{"env": {"Prod"}}, // values match exactly
	}
	for _, s := range seedStatuses {
		qs = append(qs, url.Values{"status": {s}})
	}
	for size := 1; size <= 7; size += 3 {
		for page := 1; page <= 34/size+1; page++ {
			qs = append(qs, url.Values{"size": {fmt.Sprint(size)}, "page": {fmt.Sprint(page)}})
		}
	}
	return qs
}

func TestListEmpty(t *testing.T) {
	t.Parallel()
	a := apptest.StartApp(t, apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 }))
	res := a.Do(http.MethodGet, "/api/v1/jobs", nil)
	if res.Status != http.StatusOK || string(res.Body) != `{"jobs":[],"total":0,"totalIsEstimate":false,"page":1,"size":20}` {
		t.Errorf("empty list: %d %s", res.Status, res.Body)
	}
}

func TestListFiltersPagingAndOrder(t *testing.T) {
	t.Parallel()
	c := apptest.Config(t, func(c *config.Config) { c.Worker.Concurrency = 0 })
	a := apptest.StartApp(t, c)
	const n = 33
	jobs := seedJobs(t, a, c, n)

	// The seed must give every filter something to do.
	for _, s := range seedStatuses {
		if all, _ := seedExpect(jobs, url.Values{"status": {s}}); len(all) < 3 {
			t.Fatalf("seed has %d %s jobs", len(all), s)
		}
	}

	for _, q := range listQueries(jobs) {
		t.Run("?"+q.Encode(), func(t *testing.T) {
			all, page := seedExpect(jobs, q)
			wantPage, wantSize := seedPaging(q)
			list := getJobList(t, a, q)
			if list.Total != int64(len(all)) || list.Page != int64(wantPage) || list.Size != int64(wantSize) {
				t.Errorf("total, page, size = %d, %d, %d; want %d, %d, %d",
					list.Total, list.Page, list.Size, len(all), wantPage, wantSize)
			}
			if got := itemIds(t, list.Jobs); !slices.Equal(got, ids(page)) {
				t.Fatalf("ids (newest first)\n got %v\nwant %v", got, ids(page))
			}
			for i, raw := range list.Jobs {
				checkListItem(t, fmt.Sprintf("item %d", i), raw, page[i])
			}
		})
	}

	// Walking the pages yields every job once, newest first.
	all, _ := seedExpect(jobs, url.Values{})
	var walked []string
	for page := 1; ; page++ {
		list := getJobList(t, a, url.Values{"size": {"6"}, "page": {fmt.Sprint(page)}})
		if list.Total != n {
			t.Fatalf("page %d: total %d, want %d", page, list.Total, n)
		}
		if len(list.Jobs) == 0 {
			break
		}
		walked = append(walked, itemIds(t, list.Jobs)...)
	}
	if !slices.Equal(walked, ids(all)) {
		t.Errorf("pages walked\n got %v\nwant %v", walked, ids(all))
	}

	// A list item is the detail without its result.
	items := map[string]apptest.Job{}
	for _, raw := range getJobList(t, a, url.Values{"size": {"100"}}).Jobs {
		var item apptest.Job
		if err := json.Unmarshal(raw, &item); err != nil {
			t.Fatal(err)
		}
		items[item.Id] = item
	}
	for _, s := range all {
		detail, item := a.GetJob(s.Id), items[s.Id]
		wantResult := "null"
		if s.Result != nil {
			wantResult = *s.Result
		}
		if compactJSON(t, detail.Result) != wantResult {
			t.Errorf("detail %s result = %s, want %s", s.Id, detail.Result, wantResult)
		}
		detail.Result, item.Result = nil, nil
		detail.LogTail, detail.Callback = nil, nil // detail only
		detail.Params = json.RawMessage(compactJSON(t, detail.Params))
		item.Params = json.RawMessage(compactJSON(t, item.Params))
		if !reflect.DeepEqual(detail, item) {
			t.Errorf("list item and detail differ:\nitem   %+v\ndetail %+v", item, detail)
		}
	}

	// Filters are applied in SQL, so an injection attempt is just a value that matches nothing.
	list := getJobList(t, a, url.Values{"actor": {"alice' OR '1'='1"}})
	if list.Total != 0 || len(list.Jobs) != 0 {
		t.Errorf("quoted actor matched %d jobs", list.Total)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(a.Do(http.MethodGet, "/api/v1/jobs?actor=nobody", nil).Body, &raw); err != nil || string(raw["jobs"]) != "[]" {
		t.Errorf("empty filtered list: jobs = %s (%v), want []", raw["jobs"], err)
	}
}
