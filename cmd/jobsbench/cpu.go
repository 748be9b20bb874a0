package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times (100 on every Linux this runs on).
const clockTicks = 100

// cpuSnap is a reading of where the machine's CPU time has gone: in all, in this process,
// in MariaDB and in Redis. The difference of two snapshots says who used the CPU during a
// measured phase, and so whether something else on the machine took a share.
type cpuSnap struct {
	at                      time.Time
	total                   float64             // seconds of all CPUs, from /proc/stat
	procs, irq, steal       float64             // of those: user+nice+system, irq+softirq, steal
	self, mariadb, redisCPU float64             // seconds
	others                  map[string]procTime // every other process, by pid
}

type procTime struct {
	comm string
	cpu  float64 // seconds
}

func readCPU() cpuSnap {
	s := cpuSnap{at: time.Now()}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		fields := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time
		// is already part of user and nice.
		if len(fields) > 8 && fields[0] == "cpu" {
			for i, f := range fields[1:9] {
				v, _ := strconv.ParseFloat(f, 64)
				v /= clockTicks
				s.total += v
				switch i {
				case 0, 1, 2:
					s.procs += v
				case 5, 6:
					s.irq += v
				case 7:
					s.steal += v
				}
			}
		}
	}
	s.self = procCPU("/proc/self/stat")
	s.others = make(map[string]procTime)
	self := strconv.Itoa(os.Getpid())
	pids, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range pids {
		comm, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		dir := filepath.Dir(p)
		cpu := procCPU(filepath.Join(dir, "stat"))
		switch name := strings.TrimSpace(string(comm)); name {
		case "mariadbd", "mysqld":
			s.mariadb += cpu
		case "redis-server":
			s.redisCPU += cpu
		default:
			if pid := filepath.Base(dir); pid != self {
				s.others[pid] = procTime{comm: name, cpu: cpu}
			}
		}
	}
	return s
}

// procCPU returns utime+stime of a /proc/<pid>/stat file in seconds.
func procCPU(path string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the 14th and 15th.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (u + st) / clockTicks
}

// cpuUse describes the CPU used between two snapshots, in cores.
func cpuUse(a, b cpuSnap) string {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 || b.total <= a.total {
		return "CPU use unknown"
	}
	u := a.use(b)
	out := fmt.Sprintf("CPU in cores, of %d: benchmark process %.2f, MariaDB %.2f, Redis %.2f, other processes %.2f, interrupts %.2f, steal %.2f (idle %.2f)",
		int(u.all+0.5), u.self, u.mariadb, u.redis, u.other, u.irq, u.steal, u.idle)
	if u.other >= 0.05 {
		out += "; the other processes: " + topOthers(a, b, wall)
	}
	return out
}

// topOthers names the other processes that used the most CPU between a and b; processes
// that started and ended in between are only seen as the remainder.
func topOthers(a, b cpuSnap, wall float64) string {
	byName := map[string]float64{}
	for pid, pb := range b.others {
		d := pb.cpu - a.others[pid].cpu
		if d > 0 {
			byName[pb.comm] += d / wall
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return byName[names[i]] > byName[names[j]] })
	var parts []string
	var seen float64
	for _, n := range names {
		seen += byName[n]
		if len(parts) < 4 && byName[n] >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, byName[n]))
		}
	}
	u := a.use(b)
	if rest := u.other - seen; rest >= 0.01 {
		parts = append(parts, fmt.Sprintf("processes that came and went %.2f", rest))
	}
	return strings.Join(parts, ", ")
}

type usage struct{ all, self, mariadb, redis, other, irq, steal, idle float64 }

// use returns the cores used between a and b.
func (a cpuSnap) use(b cpuSnap) usage {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return usage{}
	}
	c := func(sec float64) float64 { return sec / wall }
	u := usage{all: c(b.total - a.total), self: c(b.self - a.self), mariadb: c(b.mariadb - a.mariadb),
		redis: c(b.redisCPU - a.redisCPU), irq: c(b.irq - a.irq), steal: c(b.steal - a.steal)}
	u.other = max(c(b.procs-a.procs)-u.self-u.mariadb-u.redis, 0)
	u.idle = max(u.all-c(b.procs-a.procs)-u.irq-u.steal, 0)
	return u
}

// waitQuiet waits until processes other than this one, MariaDB and Redis have used less
// than 0.15 of a core for three seconds in a row, or until maxWait. It reports whether
// the machine was quiet.
func waitQuiet(ctx context.Context, maxWait time.Duration) bool {
	deadline := time.Now().Add(maxWait)
	quiet := 0
	prev := readCPU()
	for ctx.Err() == nil {
		time.Sleep(time.Second)
		cur := readCPU()
		u := prev.use(cur)
		prev = cur
		if u.other+u.mariadb+u.redis < 0.15 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet >= 3 {
			return true
		}
		if time.Now().After(deadline) {
			logf("machine still busy after %s (other processes %.2f cores, MariaDB %.2f, Redis %.2f); measuring anyway", maxWait, u.other, u.mariadb, u.redis)
			return false
		}
	}
	return false
}

// mariadbPerJob is the CPU each process spent per job between two snapshots, in µs:
// MariaDB's is the figure issue 11 targets (claim + finish ≤ 150 µs).
func mariadbPerJob(a, b cpuSnap, jobs int) string {
	if jobs <= 0 {
		return "CPU per job unknown (no jobs)"
	}
	per := func(seconds float64) float64 { return seconds / float64(jobs) * 1e6 }
	return fmt.Sprintf("CPU per job: MariaDB %.0f µs, Redis %.0f µs, benchmark process (app and clients) %.0f µs",
		per(b.mariadb-a.mariadb), per(b.redisCPU-a.redisCPU), per(b.self-a.self))
}
