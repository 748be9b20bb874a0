package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"jobs/internal/app"
	"jobs/internal/auth"
	"jobs/internal/functions"
	"jobs/model"
)

// Stream targets of the streaming issue.
const (
	sseP99Floor       = 100 * time.Millisecond
	sseBytesPerStream = 20 << 10
)

// tickFunction reports progress params.reports times, params.intervalMs apart, with the
// report's wall-clock time (Unix ns) as its message, so a stream client can time delivery.
var tickFunction = &functions.Definition{
	ID: "bench-tick", Kind: "bench", Description: "jobsbench: reports timestamped progress",
	Timeout: 10 * time.Minute, MaxAttempts: 1,
	Run: func(ctx context.Context, call functions.Call, r functions.Reporter) (any, error) {
		var p struct{ Reports, IntervalMs int }
		if err := json.Unmarshal(call.Params, &p); err != nil {
			return nil, err
		}
		t := time.NewTicker(time.Duration(p.IntervalMs) * time.Millisecond)
		defer t.Stop()
		for i := 1; i <= p.Reports; i++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
			}
			r.Progress(int64(i), int64(p.Reports), strconv.FormatInt(time.Now().UnixNano(), 10))
		}
		return nil, nil
	},
}

// benchStreamsOneJob opens -streams streams on one job.
func benchStreamsOneJob(ctx context.Context, e *env) (row, error) {
	return benchStreams(ctx, e, "sse-one", 1, 20, 250*time.Millisecond)
}

// benchStreamsManyJobs opens -streams streams, one per job.
func benchStreamsManyJobs(ctx context.Context, e *env) (row, error) {
	return benchStreams(ctx, e, "sse-many", e.opts.streams, 10, 500*time.Millisecond)
}

// benchStreams measures delivery latency from a function's progress report to stream
// clients, and the API process's memory per open idle stream. The API runs alone in a child
// process (the real binary, role api) so its memory is its own; the workers run here, and
// start only once every stream is open, so every stream sees every report.
func benchStreams(ctx context.Context, e *env, part string, jobs, reports int, interval time.Duration) (row, error) {
	streams := e.opts.streams
	r := row{
		name: fmt.Sprintf("SSE: %s streams on %s", thousands(int64(streams)), map[bool]string{true: "one job", false: thousands(int64(jobs)) + " jobs"}[jobs == 1]),
		setup: fmt.Sprintf("API alone in a child process (role api); %d jobs each reporting progress %d times, %s apart; %d plain-HTTP stream clients",
			jobs, reports, interval, streams),
		floor: fmt.Sprintf("p99 ≤ %s, ≤ %d KiB per idle stream", sseP99Floor, sseBytesPerStream>>10),
	}
	prefix, err := e.reset(ctx, part)
	if err != nil {
		return r, err
	}
	c, err := e.config("worker", prefix)
	if err != nil {
		return r, err
	}
	c.Worker.Concurrency = jobs
	api, err := startAPIProcess(ctx, e, prefix)
	if err != nil {
		return r, err
	}
	defer api.stop()

	// The API process does not know bench-tick, so the jobs are inserted through the worker
	// app's model and dispatcher before its workers start.
	w, err := app.New(ctx, c, tickFunction)
	if err != nil {
		return r, err
	}
	defer w.Stop(context.Background())
	params := fmt.Sprintf(`{"reports":%d,"intervalMs":%d}`, reports, interval.Milliseconds())
	ids := make([]string, jobs)
	for i := range ids {
		now := time.Now().UTC().Truncate(time.Millisecond)
		job := &model.Jobs{Id: uuid.Must(uuid.NewV7()).String(), TenantId: benchTenant, FunctionId: tickFunction.ID,
			Status: string(model.StatusPending), Params: params, MaxAttempts: 1, CreatedAt: now}
		job.EnqueuedAt.Time, job.EnqueuedAt.Valid = now, true
		if _, err := w.Svc.Jobs.Insert(ctx, job); err != nil {
			return r, err
		}
		if err := w.Svc.Dispatcher.Enqueue(ctx, job.Id); err != nil {
			return r, err
		}
		ids[i] = job.Id
	}
	token, err := auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: benchTenant, Actor: benchActor}, time.Hour)
	if err != nil {
		return r, err
	}

	before, goBefore, _, err := api.collectedMemory(ctx)
	if err != nil {
		return r, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams + 10, DisableCompression: true}}
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	opened := make(chan error, streams)
	streamCtx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readStream(streamCtx, client, api.url+"/api/v1/jobs/"+ids[i%jobs]+"/stream", token, opened, func(d time.Duration) {
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			})
		}()
		if i%100 == 99 {
			time.Sleep(20 * time.Millisecond) // open in waves rather than one burst of SYNs
		}
	}
	for range streams {
		if err := <-opened; err != nil {
			return r, err
		}
	}
	peak, err := procMemory(api.cmd.Process.Pid, "VmHWM")
	if err != nil {
		return r, err
	}
	uncollected, err := procMemory(api.cmd.Process.Pid, "VmRSS")
	if err != nil {
		return r, err
	}
	after, goAfter, settled, err := api.collectedMemory(ctx)
	if err != nil {
		return r, err
	}
	perStream := float64(after-before) / float64(streams)
	kib := func(bytes int64) string { return strconv.FormatFloat(float64(bytes)/float64(streams)/1024, 'f', 1, 64) }

	if err := w.StartBackground(ctx); err != nil {
		return r, err
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(reports)*interval + 2*time.Minute):
		return r, fmt.Errorf("streams did not all end")
	case <-ctx.Done():
		return r, ctx.Err()
	}
	s := summarize(latencies)
	want := streams * reports
	r.result = fmt.Sprintf("report→client p50 %s, p99 %s (max %s) over %s deliveries; API process %.1f KiB RSS per idle stream (RSS %s → %s MiB); Go heap and stacks live after a GC %s KiB per stream; RSS right after the last stream opened, before a GC, %s KiB per stream; peak RSS while opening %s KiB per stream",
		ms(s.p50), ms(s.p99), ms(s.max), thousands(int64(s.n)), perStream/1024,
		strconv.FormatFloat(float64(before)/(1<<20), 'f', 1, 64), strconv.FormatFloat(float64(after)/(1<<20), 'f', 1, 64),
		kib(goAfter-goBefore), kib(uncollected-before), kib(peak-before))
	r.notes = append(r.notes, fmt.Sprintf("RSS per idle stream is read after two garbage collections, once the API process's RSS has settled (%s after them): until a collection, RSS still holds the garbage of opening the streams, which an idle process collects only on the runtime's 2-minute forced GC", settled.Round(time.Second)))
	r.pass = s.n == want && s.p99 <= sseP99Floor && perStream <= sseBytesPerStream
	if s.n != want {
		r.notes = append(r.notes, fmt.Sprintf("%d progress events reached the clients, want %d", s.n, want))
	}
	return r, nil
}

// readStream reads one stream to its end, reporting each progress event's delivery latency.
func readStream(ctx context.Context, client *http.Client, url, token string, opened chan<- error, observe func(time.Duration)) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		opened <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		opened <- fmt.Errorf("stream: %s", resp.Status)
		return
	}
	lines := bufio.NewReader(resp.Body)
	first, event := true, ""
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event: "))
			if first {
				first = false
				opened <- nil
			}
		case strings.HasPrefix(line, "data: ") && event == "progress":
			now := time.Now()
			var p struct{ Message string }
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &p) == nil {
				if ns, err := strconv.ParseInt(p.Message, 10, 64); err == nil {
					observe(now.Sub(time.Unix(0, ns)))
				}
			}
		}
	}
}

// procMemory returns a process's memory figure field ("VmRSS", "VmHWM") in bytes.
func procMemory(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}

// collectedMemory returns the API process's RSS once its garbage is collected and the
// freed memory returned to the OS, its live Go heap plus stacks, and how long RSS took to
// settle. Without the collections, RSS would depend on when the process last collected:
// an idle process allocates too little to start a collection, so the garbage of opening the
// streams (request buffers, handler stacks) stays resident for up to the runtime's 2-minute
// forced GC. The second collection is needed because Go's scavenger does not return pages
// that were densely used in the current or the previous GC cycle.
func (p *apiProcess) collectedMemory(ctx context.Context) (rss, goLive int64, settled time.Duration, err error) {
	for range 2 {
		if goLive, err = p.goMemory(); err != nil {
			return 0, 0, 0, err
		}
	}
	rss, settled, err = settledRSS(ctx, p.cmd.Process.Pid)
	return rss, goLive, settled, err
}

// settledRSS waits until a process's RSS has stopped falling (by less than 1% over 10 s,
// at most 2 minutes) and returns it with the time waited.
func settledRSS(ctx context.Context, pid int) (int64, time.Duration, error) {
	start := time.Now()
	var samples []int64
	for {
		cur, err := procMemory(pid, "VmRSS")
		if err != nil {
			return 0, 0, err
		}
		samples = append(samples, cur)
		const window = 5 // samples, 2 s apart
		if n := len(samples); n > window && float64(samples[n-1-window]-cur) < 0.01*float64(cur) || time.Since(start) > 2*time.Minute {
			return cur, time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// apiProcess is the jobs binary serving the API alone.
type apiProcess struct {
	cmd      *exec.Cmd
	url      string
	pprofURL string // go-zero's dev server: runtime profiles
	dir      string
}

// goMemory returns the API process's live Go heap plus goroutine stacks, read from its
// heap profile right after the garbage collection the profile asks for.
func (p *apiProcess) goMemory() (int64, error) {
	resp, err := http.Get(p.pprofURL + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var heap, stack int64 = -1, -1
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) >= 4 && f[0] == "#" && f[2] == "=" {
			switch f[1] {
			case "HeapAlloc":
				heap, _ = strconv.ParseInt(f[3], 10, 64)
			case "Stack":
				stack, _ = strconv.ParseInt(f[3], 10, 64)
			}
		}
	}
	if heap < 0 || stack < 0 {
		return 0, fmt.Errorf("no HeapAlloc and Stack in the heap profile of %s (%v)", p.pprofURL, lines.Err())
	}
	return heap + stack, nil
}

func (p *apiProcess) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	os.RemoveAll(p.dir)
}

// startAPIProcess builds the jobs binary and runs it with role api on the run's database
// and prefix.
func startAPIProcess(ctx context.Context, e *env, prefix string) (*apiProcess, error) {
	dir, err := os.MkdirTemp("", "jobsbench-api")
	if err != nil {
		return nil, err
	}
	binary := filepath.Join(dir, "jobs")
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "jobs")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build jobs: %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, pprofPort := ports[0], ports[1]
	yaml := fmt.Sprintf("Name: jobsbench-api\nMode: dev\nHost: 127.0.0.1\nPort: %d\nLog:\n  Mode: console\n  Level: error\n  Stat: false\n"+
		"DevServer:\n  Enabled: true\n  Host: 127.0.0.1\n  Port: %d\n  EnableMetrics: false\n"+
		"MySQL:\n  DataSource: %q\n  Migrate: false\nRedis:\n  Addr: %q\n  Prefix: %q\n", port, pprofPort, e.dsn, e.opts.redisAddr, prefix)
	file := filepath.Join(dir, "api.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &apiProcess{cmd: exec.Command(binary, "-f", file, "-role", "api"), url: fmt.Sprintf("http://127.0.0.1:%d", port),
		pprofURL: fmt.Sprintf("http://127.0.0.1:%d", pprofPort), dir: dir}
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/api/v1/functions"); err == nil {
			resp.Body.Close()
			if _, err := p.goMemory(); err == nil {
				return p, nil
			}
		}
	}
	p.stop()
	return nil, fmt.Errorf("API process never answered on %s", p.url)
}

// freePorts returns n ports free on 127.0.0.1 right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
