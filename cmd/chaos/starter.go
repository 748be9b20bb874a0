package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ack is a start the service acknowledged: a 200 with the job's id.
type ack struct {
	key, id string
	at      time.Time
}

// starter starts jobs the way a careful client does: each with an idempotency key, retried
// on connection errors and 5xx answers until a 200 acknowledges it, so a fault can neither
// lose a start nor make a duplicate look like a loss. Answers that did not acknowledge are
// counted by kind.
type starter struct {
	url        string // the API's base URL
	token      string
	scenario   string // prefix of the idempotency keys
	functionID string
	client     *http.Client

	next atomic.Int64 // the next job number to start

	mu       sync.Mutex
	acks     []ack
	refusals map[string]int
}

func newStarter(e *env, url, functionID string) *starter {
	return &starter{url: url, token: e.token, scenario: e.prefix, functionID: functionID,
		client:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		refusals: map[string]int{}}
}

// run starts jobs from clients goroutines, each starting at most one job every pace (0: as
// fast as the service answers), until limit jobs are started (0: no limit) or stop is
// closed. It returns once every job it began to start is acknowledged, or with ctx's error.
func (s *starter) run(ctx context.Context, clients int, pace time.Duration, limit int64, stop <-chan struct{},
	params func(n int64) map[string]any) error {
	errs := make(chan error, clients)
	for range clients {
		go func() {
			var tick <-chan time.Time
			if pace > 0 {
				t := time.NewTicker(pace)
				defer t.Stop()
				tick = t.C
			}
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				n, ok := s.claim(limit)
				if !ok {
					errs <- nil
					return
				}
				if err := s.start(ctx, fmt.Sprintf("%s-%d", s.scenario, n), params(n)); err != nil {
					errs <- err
					return
				}
				if tick != nil {
					select {
					case <-tick:
					case <-stop:
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	var first error
	for range clients {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// claim takes the next job number, unless limit (if not 0) numbers are taken.
func (s *starter) claim(limit int64) (int64, bool) {
	for {
		n := s.next.Load()
		if limit > 0 && n >= limit {
			return 0, false
		}
		if s.next.CompareAndSwap(n, n+1) {
			return n, true
		}
	}
}

// start starts one job, retrying until it is acknowledged.
func (s *starter) start(ctx context.Context, key string, params map[string]any) error {
	body, err := json.Marshal(map[string]any{"functionId": s.functionID, "params": params, "idempotencyKey": key})
	if err != nil {
		return err
	}
	backoff := 50 * time.Millisecond
	for {
		id, refusal, err := s.try(ctx, body)
		if err != nil {
			return fmt.Errorf("start %s: %w", key, err)
		}
		if id != "" {
			s.mu.Lock()
			s.acks = append(s.acks, ack{key: key, id: id, at: time.Now()})
			s.mu.Unlock()
			return nil
		}
		s.mu.Lock()
		s.refusals[refusal]++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("start %s: never acknowledged (last answer: %s): %w", key, refusal, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// try posts one start. It returns the job id of an acknowledgement, or what kind of answer
// it was instead; an error only for an answer that no retry can change (a 4xx: the
// battery's request is wrong).
func (s *starter) try(ctx context.Context, body []byte) (id, refusal string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/v1/jobs", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		return "", "connection error", nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Sprintf("HTTP %d, body cut off", resp.StatusCode), nil
	}
	var envelope struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
		Data    struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	isEnvelope := json.Unmarshal(data, &envelope) == nil && envelope.Code != nil
	switch code := resp.StatusCode; {
	case code == http.StatusOK && isEnvelope && envelope.Data.ID != "":
		return envelope.Data.ID, "", nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return "", "", fmt.Errorf("HTTP %d: %s", code, data)
	case len(bytes.TrimSpace(data)) == 0:
		return "", fmt.Sprintf("HTTP %d, empty body", code), nil
	case isEnvelope:
		return "", fmt.Sprintf("HTTP %d %q", code, envelope.Message), nil
	default:
		return "", fmt.Sprintf("HTTP %d, not an envelope: %.60q", code, data), nil
	}
}

// acked returns the acknowledged starts so far.
func (s *starter) acked() []ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ack(nil), s.acks...)
}

// ackedCount is how many starts were acknowledged so far.
func (s *starter) ackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acks)
}

// refused summarizes the answers that did not acknowledge a start, most frequent first.
func (s *starter) refused() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := make([]string, 0, len(s.refusals))
	for k := range s.refusals {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return s.refusals[kinds[i]] > s.refusals[kinds[j]] })
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d × %s", s.refusals[k], k)
	}
	return strings.Join(parts, ", ")
}
