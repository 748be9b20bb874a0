package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apiKillStreams starts 500 jobs of the built-in sleep function (8 s, a progress event a
// second), opens one stream per job on API process A, then starts one worker with a slot
// for each job, and SIGKILLs A once every stream has seen two progress events. Each client then resumes on API
// process B with Last-Event-ID, as an EventSource would. Every stream must resume, end
// with done (status completed), and see every event id once: no gap, no duplicate.
// Recovery is the time from the kill until the last stream received its first event from B.
func apiKillStreams(ctx context.Context, s *scene) error {
	const jobs = 500
	apiA, err := s.startJobs(ctx, "api-a", "api", 0)
	if err != nil {
		return err
	}
	apiB, err := s.startJobs(ctx, "api-b", "api", 0)
	if err != nil {
		return err
	}
	st := newStarter(s.env, apiA.url, "sleep")
	if err := st.run(ctx, 16, 0, jobs, nil, func(int64) map[string]any { return map[string]any{"seconds": 8} }); err != nil {
		return err
	}
	acks := st.acked()
	s.logf("%d jobs started", len(acks))

	f := &follower{token: s.token, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	f.api.Store(&apiA.url)
	streams := make([]*stream, len(acks))
	var wg sync.WaitGroup
	for i, a := range acks {
		streams[i] = &stream{job: a.id}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.follow(ctx, streams[i])
		}()
	}
	// The jobs wait for the worker until every stream is open, so however long opening
	// takes, every stream sees its job run.
	if !s.waitFor(ctx, "every stream open", 30*time.Second, func() bool {
		for _, str := range streams {
			if !str.snapshot().opened {
				return false
			}
		}
		return true
	}) {
		return nil
	}
	if _, err := s.startJobs(ctx, "worker", "worker", jobs); err != nil {
		return err
	}
	s.logf("%d streams open; worker started", len(streams))
	if !s.waitFor(ctx, "two progress events on every stream", 30*time.Second, func() bool {
		for _, str := range streams {
			if str.snapshot().progress < 2 {
				return false
			}
		}
		return true
	}) {
		return nil
	}
	apiA.kill()
	f.killedAt.Store(time.Now().UnixNano())
	f.api.Store(&apiB.url)
	s.logf("SIGKILL api-a with %d streams open; clients resume on api-b", len(streams))

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Minute):
		s.res.fail("streams still open a minute after the kill")
	case <-ctx.Done():
		return ctx.Err()
	}
	s.logf("every stream ended")

	killedAt := time.Unix(0, f.killedAt.Load())
	var problems []string
	resumed := 0
	for _, str := range streams {
		v := str.snapshot()
		if !v.resumedAt.IsZero() {
			resumed++
			s.res.recovery = max(s.res.recovery, v.resumedAt.Sub(killedAt))
		}
		switch {
		case v.problem != "":
			problems = append(problems, fmt.Sprintf("%s: %s", str.job, v.problem))
		case v.doneStatus == "":
			problems = append(problems, fmt.Sprintf("%s: no done event (last id %d)", str.job, v.last))
		case v.doneStatus != "completed":
			problems = append(problems, fmt.Sprintf("%s: done with status %s", str.job, v.doneStatus))
		case v.resumedAt.IsZero():
			problems = append(problems, fmt.Sprintf("%s: never resumed on api-b", str.job))
		}
	}
	if len(problems) > 0 {
		s.res.fail("%d of %d streams went wrong, e.g.\n      %s", len(problems), len(streams), strings.Join(firstFew(problems, 5), "\n      "))
	}
	s.res.note("%d of %d streams resumed on api-b with Last-Event-ID, the last %s after the kill; every one ended with done, no gap, no duplicate id: %v",
		resumed, len(streams), seconds(s.res.recovery), len(problems) == 0)
	s.settle(ctx, st, false) // sleep jobs: MySQL's attempt counts their executions
	return nil
}

// follower reads job streams the way an EventSource does: on a connection that ends
// before done it reconnects, to whichever API is current, with Last-Event-ID.
type follower struct {
	token    string
	client   *http.Client
	api      atomic.Pointer[string] // base URL of the API streams (re)connect to
	killedAt atomic.Int64           // Unix ns of the API kill; 0 before it
}

// stream is what one client saw of one job's stream.
type stream struct {
	job string
	mu  sync.Mutex
	v   streamView
}

// streamView is a copy of a stream's state.
type streamView struct {
	opened     bool      // a snapshot came: reconnects resume with Last-Event-ID
	last       int64     // id of the last event seen
	progress   int       // progress events seen
	doneStatus string    // the status in the done event, once it came
	resumedAt  time.Time // first event on a connection opened after the kill
	problem    string    // the first gap, duplicate or protocol error seen
}

func (s *stream) snapshot() streamView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v
}

// follow reads the job's stream until done, reconnecting as needed, or until ctx ends.
func (f *follower) follow(ctx context.Context, s *stream) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		v := s.snapshot()
		if v.doneStatus != "" || v.problem != "" {
			return
		}
		openedAfterKill := f.killedAt.Load() != 0
		err := f.read(ctx, s, *f.api.Load(), v.opened, v.last, openedAfterKill)
		if err == nil {
			backoff = 50 * time.Millisecond // it was open: reconnect at once
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// read opens the stream once (resuming from lastID) and records its events until it
// ends. It returns an error if the stream did not open.
func (f *follower) read(ctx context.Context, s *stream, api string, resuming bool, lastID int64, afterKill bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/jobs/"+s.job+"/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	if resuming {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		if resp.StatusCode == http.StatusNoContent {
			s.setProblem(fmt.Sprintf("204 on a resume from id %d, before any done event", lastID))
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	lines := bufio.NewReader(resp.Body)
	var id int64
	var name, data string
	first := true
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return nil // the connection ended; follow decides whether to resume
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if name == "" {
				continue
			}
			s.event(id, name, data, resuming, first && afterKill)
			first, name, data = false, "", ""
			if v := s.snapshot(); v.doneStatus != "" || v.problem != "" {
				return nil
			}
		case strings.HasPrefix(line, ":"): // a ping
		case strings.HasPrefix(line, "id: "):
			id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// event records one event. Numbered events must follow the last id seen by exactly one;
// a snapshot is the job's state, numbered with the id it resumes from (or, on a first
// connection, the latest id), so it repeats that id rather than adding one.
func (s *stream) event(id int64, name, data string, resuming, firstAfterKill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if firstAfterKill {
		s.v.resumedAt = time.Now()
	}
	switch {
	case name == "snapshot" && !resuming:
		s.v.opened, s.v.last = true, id
	case name == "snapshot":
		if id != s.v.last {
			s.v.problem = fmt.Sprintf("snapshot numbered %d on a resume from %d", id, s.v.last)
		}
	case id <= s.v.last:
		s.v.problem = fmt.Sprintf("duplicate: %s event %d after event %d", name, id, s.v.last)
	case id > s.v.last+1:
		s.v.problem = fmt.Sprintf("gap: %s event %d after event %d", name, id, s.v.last)
	default:
		s.v.last = id
	}
	switch name {
	case "progress":
		s.v.progress++
	case "done":
		var job struct{ Status string }
		if err := json.Unmarshal([]byte(data), &job); err != nil || job.Status == "" {
			s.v.problem = fmt.Sprintf("done event without a status: %.100s", data)
			return
		}
		s.v.doneStatus = job.Status
	}
}

func (s *stream) setProblem(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v.problem = p
}
