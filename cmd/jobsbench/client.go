package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"jobs/internal/auth"
	"jobs/internal/config"
)

// errShed is go-zero's load shedder or breaker refusing a request: HTTP 503, empty body.
var errShed = errors.New("HTTP 503 (shed by go-zero)")

// client starts jobs over HTTP with a bearer token, keeping its connections alive.
type client struct {
	base     string
	token    string
	function string // functionId of the jobs it starts
	// perRequest > 1 posts that many jobs per request to POST /api/v1/jobs/batch.
	perRequest int
	http       *http.Client
	seq        atomic.Int64 // params.i of the next job
}

// Who the benchmark's requests are from.
const (
	benchTenant = "bench"
	benchActor  = "jobsbench"
)

// newClient returns a client of the app at base that starts echo jobs, with a token
// minted with the app's secret.
func newClient(base string, conns int, c config.Config) (*client, error) {
	token, err := auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: benchTenant, Actor: benchActor}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	return &client{base: base, token: token, function: "echo", perRequest: 1, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}}, nil
}

func (c *client) close() { c.http.CloseIdleConnections() }

// startJob posts {"functionId":"echo","params":{"i":N}} (or the client's function), or
// perRequest of them to the batch route, and returns the (first) new job's id.
func (c *client) startJob(ctx context.Context) (string, error) {
	route, body := "/api/v1/jobs", c.startBody()
	if c.perRequest > 1 {
		items := make([][]byte, c.perRequest)
		for i := range items {
			items[i] = c.startBody()
		}
		route, body = "/api/v1/jobs/batch", append(append([]byte(`{"jobs":[`), bytes.Join(items, []byte(","))...), "]}"...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+route, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusServiceUnavailable && len(data) == 0 {
		return "", errShed
	}
	type started struct {
		Id string `json:"id"`
	}
	var env struct {
		Code *int `json:"code"`
		Data struct {
			started
			Jobs []started `json:"jobs"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Code == nil {
		return "", fmt.Errorf("HTTP %d, not an envelope: %.200s", resp.StatusCode, data)
	}
	id := env.Data.Id
	if c.perRequest > 1 && len(env.Data.Jobs) == c.perRequest {
		id = env.Data.Jobs[0].Id
	}
	if resp.StatusCode != http.StatusOK || *env.Code != 0 || id == "" {
		return "", fmt.Errorf("HTTP %d code %d: %.200s", resp.StatusCode, *env.Code, data)
	}
	return id, nil
}

// startBody is the next start request: {"functionId":"echo","params":{"i":N}}.
func (c *client) startBody() []byte {
	i := c.seq.Add(1)
	return []byte(`{"functionId":"` + c.function + `","params":{"i":` + strconv.FormatInt(i, 10) + `}}`)
}

// loadResult is what a closed-loop load run saw.
type loadResult struct {
	ok        int
	errors    int
	shed      int // 503s from go-zero's shedder or breaker; the client backs off and retries
	firstErr  error
	latencies []time.Duration // of the successful requests
	elapsed   time.Duration
}

// closedLoop runs `clients` goroutines that each start echo jobs back to back until
// either deadline passes (if not zero) or total jobs have been started (if not zero).
// A request shed by go-zero (503) is retried after a backoff of 5 ms doubling to 200 ms.
func closedLoop(ctx context.Context, c *client, clients int, deadline time.Time, total int) loadResult {
	var (
		mu     sync.Mutex
		res    loadResult
		issued atomic.Int64
		wg     sync.WaitGroup
	)
	begin := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var ok, failed, shed int
			var firstErr error
			backoff := time.Duration(0)
			retry := false
			for ctx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					break
				}
				if !retry && total > 0 && issued.Add(1) > int64(total) {
					break
				}
				t0 := time.Now()
				_, err := c.startJob(ctx)
				d := time.Since(t0)
				retry = errors.Is(err, errShed)
				if retry {
					shed++
					backoff = min(max(2*backoff, 5*time.Millisecond), 200*time.Millisecond)
					time.Sleep(backoff)
					continue
				}
				backoff = 0
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				ok++
				lat = append(lat, d)
			}
			mu.Lock()
			res.ok += ok
			res.errors += failed
			res.shed += shed
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(begin)
	return res
}
