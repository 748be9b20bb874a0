package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// workFunction is the HTTP function the scenarios' jobs run. Each attempt POSTs the job to
// the recorder, which notes it (job id, and which worker process called, from the
// X-Chaos-Process header of that process's config) and answers after params.ms: the
// executions of every job are counted where they happen, whatever the service records.
const workFunction = "chaos-work"

// execution is one call of workFunction: one attempt of a job on one worker process.
type execution struct {
	job      string
	process  string
	started  time.Time
	answered bool // the recorder answered (the worker may still die before recording it)
}

// recorder is the loopback HTTP server workFunction calls.
type recorder struct {
	url    string
	server *http.Server

	mu      sync.Mutex
	runs    map[string][]*execution            // by job id
	running map[string]map[*execution]struct{} // by process
	total   int                                // executions answered
}

func newRecorder(port int) (*recorder, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	r := &recorder{url: fmt.Sprintf("http://%s/run", l.Addr())}
	r.reset()
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.server.Serve(l) }()
	return r, nil
}

// reset forgets everything recorded, for the next scenario.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs, r.running, r.total = map[string][]*execution{}, map[string]map[*execution]struct{}{}, 0
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var call struct {
		ID      string `json:"id"`
		Attempt int    `json:"attempt"`
		Params  struct {
			Ms int `json:"ms"`
		} `json:"params"`
	}
	if err := json.NewDecoder(req.Body).Decode(&call); err != nil || call.ID == "" {
		http.Error(w, `{"error": "want {id, attempt, params}"}`, http.StatusBadRequest)
		return
	}
	e := &execution{job: call.ID, process: req.Header.Get("X-Chaos-Process"), started: time.Now()}
	r.mu.Lock()
	r.runs[e.job] = append(r.runs[e.job], e)
	if r.running[e.process] == nil {
		r.running[e.process] = map[*execution]struct{}{}
	}
	r.running[e.process][e] = struct{}{}
	r.mu.Unlock()

	// The job's work: params.ms of waiting, cut short if the worker goes away.
	select {
	case <-time.After(time.Duration(call.Params.Ms) * time.Millisecond):
	case <-req.Context().Done():
	}
	r.mu.Lock()
	delete(r.running[e.process], e)
	if req.Context().Err() == nil {
		e.answered = true
		r.total++
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"job": %q, "attempt": %d}`, call.ID, call.Attempt)
}

// answered is the number of executions that ran to the end.
func (r *recorder) answered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// runningOn returns the jobs whose execution process is in right now.
func (r *recorder) runningOn(process string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var jobs []string
	for e := range r.running[process] {
		jobs = append(jobs, e.job)
	}
	return jobs
}

// runCount is how often one job was called, and how many of those calls ran to the end.
type runCount struct{ calls, answered int }

// executions returns each called job's runCount.
func (r *recorder) executions() map[string]runCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := make(map[string]runCount, len(r.runs))
	for job, runs := range r.runs {
		c := runCount{calls: len(runs)}
		for _, e := range runs {
			if e.answered {
				c.answered++
			}
		}
		n[job] = c
	}
	return n
}

// firstRunAfter returns the earliest execution of one of jobs that started after t.
func (r *recorder) firstRunAfter(jobs []string, t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, job := range jobs {
		for _, e := range r.runs[job] {
			if e.started.After(t) && (first.IsZero() || e.started.Before(first)) {
				first = e.started
			}
		}
	}
	return first, !first.IsZero()
}

func (r *recorder) close() { _ = r.server.Close() }
