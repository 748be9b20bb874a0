package main

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"jobs/internal/testutil"
)

// The battery is only as good as its checks: each must see the failure it exists for.

func TestCheckFindsEveryKindOfFailure(t *testing.T) {
	t.Parallel()
	db := testutil.DB(t, testutil.NewDB(t))
	e := &env{db: db}
	now := time.Now().UTC().Truncate(time.Millisecond)
	insert := func(key, status string) string {
		id := uuid.Must(uuid.NewV7()).String()
		var finished sql.NullTime
		if status != "pending" && status != "running" {
			finished = sql.NullTime{Time: now, Valid: true}
		}
		if _, err := db.Exec("INSERT INTO jobs (id, tenant_id, idempotency_key, function_id, status, params, error, attempt, created_at, finished_at) "+
			"VALUES (?, 'chaos', ?, 'chaos-work', ?, '{}', '', 1, ?, ?)", id, key, status, now, finished); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ok, twice := insert("ok", "completed"), insert("twice", "completed")
	pending, failed, unrun := insert("pending", "pending"), insert("failed", "failed"), insert("unrun", "completed")
	insert("duplicate", "completed")
	acks := []ack{{key: "ok", id: ok}, {key: "twice", id: twice}, {key: "pending", id: pending}, {key: "failed", id: failed},
		{key: "unrun", id: unrun}, {key: "missing", id: uuid.NewString()}}
	runs := map[string]runCount{ok: {1, 1}, twice: {2, 1}, pending: {1, 0}, failed: {1, 1}, unrun: {1, 0}}

	var r result
	e.check(context.Background(), acks, runs, &r)
	if r.acked != 6 || r.lost != 2 || r.runTwice != 1 {
		t.Errorf("acked %d, lost %d, run twice %d; want 6, 2 (pending, missing), 1", r.acked, r.lost, r.runTwice)
	}
	failures := strings.Join(r.failures, "\n")
	for _, want := range []string{"2 acknowledged jobs lost", "1 jobs did not complete", "1 jobs in MySQL that no start acknowledged",
		"1 jobs completed without running", "missing from MySQL", "still pending"} {
		if !strings.Contains(failures, want) {
			t.Errorf("failures do not say %q:\n%s", want, failures)
		}
	}
}

func TestStreamEventsMustFollowEachOtherByOne(t *testing.T) {
	t.Parallel()
	type ev struct {
		id       int64
		name     string
		resuming bool
	}
	for _, tc := range []struct {
		name    string
		events  []ev
		problem string
	}{
		{"in order, resumed", []ev{{4, "snapshot", false}, {5, "progress", false}, {5, "snapshot", true}, {6, "progress", true}, {7, "done", true}}, ""},
		{"gap", []ev{{4, "snapshot", false}, {6, "progress", false}}, "gap"},
		{"duplicate", []ev{{4, "snapshot", false}, {5, "progress", false}, {5, "snapshot", true}, {5, "progress", true}}, "duplicate"},
		{"resume from elsewhere", []ev{{4, "snapshot", false}, {5, "progress", false}, {9, "snapshot", true}}, "snapshot numbered 9"},
	} {
		s := &stream{}
		for _, e := range tc.events {
			data := "{}"
			if e.name == "done" {
				data = `{"status":"completed"}`
			}
			s.event(e.id, e.name, data, e.resuming, false)
		}
		v := s.snapshot()
		if tc.problem == "" && (v.problem != "" || v.doneStatus != "completed") || !strings.Contains(v.problem, tc.problem) {
			t.Errorf("%s: problem %q, done %q; want a problem with %q", tc.name, v.problem, v.doneStatus, tc.problem)
		}
	}
}

func TestStartsAreAcknowledgedOnlyBy200WithAnID(t *testing.T) {
	t.Parallel()
	answers := map[string]struct {
		status int
		body   string
	}{
		"ok":       {200, `{"code":0,"message":"ok","data":{"id":"0190"}}`},
		"no-id":    {200, `{"code":0,"message":"ok","data":{}}`},
		"breaker":  {503, ``},
		"internal": {500, `{"code":500,"message":"internal error"}`},
		"plain":    {502, `bad gateway`},
		"invalid":  {400, `{"code":400,"message":"functionId is required"}`},
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.Header.Get("X-Answer")]
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	st := &starter{url: server.URL, client: &http.Client{Transport: headerTransport{}}}
	for answer, want := range map[string]string{"ok": "", "no-id": `HTTP 200 "ok"`, "breaker": "HTTP 503, empty body",
		"internal": `HTTP 500 "internal error"`, "plain": `HTTP 502, not an envelope: "bad gateway"`} {
		id, refusal, err := st.try(context.WithValue(context.Background(), answerKey{}, answer), []byte(`{}`))
		if err != nil || refusal != want || (want == "") != (id == "0190") {
			t.Errorf("%s: id %q, refusal %q, err %v; want refusal %q", answer, id, refusal, err, want)
		}
	}
	if _, _, err := st.try(context.WithValue(context.Background(), answerKey{}, "invalid"), []byte(`{}`)); err == nil {
		t.Error("a 400 should stop the battery: its request is wrong")
	}
	server.Close()
	if _, refusal, err := st.try(context.WithValue(context.Background(), answerKey{}, "ok"), []byte(`{}`)); err != nil || refusal != "connection error" {
		t.Errorf("server gone: refusal %q, err %v", refusal, err)
	}
}

// answerKey and headerTransport tell the test server which answer a request wants.
type answerKey struct{}

type headerTransport struct{}

func (headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Answer", r.Context().Value(answerKey{}).(string))
	return http.DefaultTransport.RoundTrip(r)
}

func TestRecoveryWaitsForTheJobsAtRiskAndTheFirstAfter(t *testing.T) {
	t.Parallel()
	fault := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	restored := fault.Add(5 * time.Second)
	finished := func(d time.Duration) jobRow {
		return jobRow{finishedAt: sql.NullTime{Time: fault.Add(d), Valid: true}}
	}
	rows := map[string]jobRow{
		"done-before": finished(-time.Second), "at-risk": finished(9 * time.Second),
		"during": finished(7 * time.Second), "after": finished(12 * time.Second), "later": finished(20 * time.Second),
	}
	acks := []ack{{id: "done-before", at: fault.Add(-2 * time.Second)}, {id: "at-risk", at: fault.Add(-time.Second)},
		{id: "during", at: fault.Add(time.Second)}, {id: "after", at: restored.Add(time.Second)}, {id: "later", at: restored.Add(2 * time.Second)}}
	d, atRisk, ok := recoveryAfter(rows, acks, fault, restored)
	if !ok || d != 12*time.Second || atRisk != 1 {
		t.Errorf("recovery %s, at risk %d, ok %v; want 12s (the first job after the restoration), 1, true", d, atRisk, ok)
	}
	delete(rows, "at-risk")
	if _, _, ok := recoveryAfter(rows, acks, fault, restored); ok {
		t.Error("a job acknowledged before the restoration never finished, yet recovery was measured")
	}
}
