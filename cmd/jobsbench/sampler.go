package main

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stageSampler samples the goroutines every interval and tallies what the worker pool's
// two serial stages are doing: the fetch loop (read the stream, claim in MySQL, ack) and
// the completer (write outcomes in one statement). A stage that is busy in nearly every
// sample is the one that bounds throughput.
type stageSampler struct {
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	samples int
	fetch   map[string]int
	finish  map[string]int
	execs   map[string]int // execution goroutines by state, summed over samples
}

func startSampler(interval time.Duration) *stageSampler {
	s := &stageSampler{stop: make(chan struct{}), done: make(chan struct{}),
		fetch: map[string]int{}, finish: map[string]int{}, execs: map[string]int{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var buf bytes.Buffer
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			buf.Reset()
			if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
				continue
			}
			s.tally(buf.String())
		}
	}()
	return s
}

// fetchStates maps a frame of the fetch goroutine, innermost first, to what it is doing.
var fetchStates = []struct{ frame, state string }{
	{"(*Queue).ClaimIdle", "XAUTOCLAIM"},
	{"(*Queue).Read", "XREADGROUP"},
	{"(*Queue).Ack", "XACK+XDEL"},
	{").Claim", "Claim (UPDATE + SELECT)"},
	{"(*Pool).acquire", "waiting for a free slot"},
	{"(*Pool).release", "releasing slots"},
	{"(*Pool).run", "starting executions"},
}

var execStates = []struct{ frame, state string }{
	{"(*completer).submit", "handing over the outcome"},
	{"(*Pool).release", "releasing the slot"},
	{"(*execution).execute", "running the function"},
}

var finishStates = []struct{ frame, state string }{
	{").Finish", "Finish (one statement)"},
	{"(*Emitter)", "emit events"},
	{"(*Dispatcher).Enqueue", "enqueue retries"},
}

func (s *stageSampler) tally(profile string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	fetchSeen, finishSeen := false, false
	// "goroutine profile: total N", then groups: "COUNT @ addrs" followed by
	// "#\taddr\tfunc+off\tfile:line" frames, innermost first.
	type group struct {
		count  int
		frames []string
	}
	var groups []group
	for _, l := range strings.Split(profile, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[1] == "@":
			n, _ := strconv.Atoi(f[0])
			groups = append(groups, group{count: n})
		case len(f) >= 3 && f[0] == "#" && len(groups) > 0:
			g := &groups[len(groups)-1]
			g.frames = append(g.frames, f[2])
		}
	}
	for _, g := range groups {
		stack := strings.Join(g.frames, "\n")
		switch {
		case strings.Contains(stack, "(*Pool).fetch"):
			fetchSeen = true
			s.fetch[classify(g.frames, fetchStates, "other")]++
		case strings.Contains(stack, "(*completer).flush"):
			finishSeen = true
			s.finish[classify(g.frames, finishStates, "other")]++
		case strings.Contains(stack, "(*Pool).run.func"):
			s.execs[classify(g.frames, execStates, "other")] += g.count
		}
	}
	if !fetchSeen {
		s.fetch["not running"]++
	}
	if !finishSeen {
		s.finish["idle (waiting for outcomes)"]++
	}
}

func classify(frames []string, states []struct{ frame, state string }, other string) string {
	for _, f := range frames { // innermost first
		for _, st := range states {
			if strings.Contains(f, st.frame) {
				return st.state
			}
		}
	}
	return other
}

// finishReport stops sampling (if not yet stopped) and describes the tallies.
func (s *stageSampler) finishReport() []string {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == 0 {
		return nil
	}
	describe := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(m[k])/float64(s.samples)))
		}
		return strings.Join(parts, ", ")
	}
	var execs []string
	keys := make([]string, 0, len(s.execs))
	for k := range s.execs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		execs = append(execs, fmt.Sprintf("%s %.1f", k, float64(s.execs[k])/float64(s.samples)))
	}
	if len(execs) == 0 {
		execs = []string{"none"}
	}
	return []string{
		fmt.Sprintf("goroutine samples (%d, every 50 ms): fetch loop: %s", s.samples, describe(s.fetch)),
		fmt.Sprintf("completer: %s", describe(s.finish)),
		fmt.Sprintf("execution goroutines, mean number per sample: %s", strings.Join(execs, ", ")),
	}
}
