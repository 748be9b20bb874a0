package schedule

import (
	"testing"
	"time"
)

func mustParse(t *testing.T, spec, tz string) func(time.Time) time.Time {
	t.Helper()
	sched, err := Parse(spec, tz)
	if err != nil {
		t.Fatalf("parse %q %q: %v", spec, tz, err)
	}
	return func(at time.Time) time.Time { return Next(sched, at) }
}

// Cron fields are read in the schedule's time zone, across a daylight saving change.
func TestParseReadsTheTimezone(t *testing.T) {
	next := mustParse(t, "30 2 * * *", "Europe/Berlin")
	// 2026-03-29 has no 02:30 in Berlin (clocks go from 02:00 to 03:00).
	at := next(time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC); !at.Equal(want) {
		t.Errorf("first after 27 March noon: %s, want %s (02:30 CET)", at, want)
	}
	if after := next(at); after.Sub(at) < 23*time.Hour {
		t.Errorf("after %s comes %s", at, after)
	}
	hourly := mustParse(t, "@hourly", "")
	if at := hourly(time.Date(2026, 1, 1, 10, 15, 0, 0, time.UTC)); !at.Equal(time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("@hourly after 10:15: %s", at)
	}
}

// Fire times within the grace all start; of older ones only the latest, when nothing newer
// starts; the rest are counted missed.
func TestPlan(t *testing.T) {
	sched, err := Parse("@every 1s", "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		now    time.Duration // after base, the first fire time
		grace  time.Duration
		start  []time.Duration
		missed int64
		next   time.Duration
		last   time.Duration
	}{
		{"on time", 100 * time.Millisecond, 5 * time.Second, []time.Duration{0}, 0, time.Second, 0},
		{"a slow pass", 2500 * time.Millisecond, 5 * time.Second, []time.Duration{0, time.Second, 2 * time.Second}, 0, 3 * time.Second, 2 * time.Second},
		{"down a minute", 60500 * time.Millisecond, 5 * time.Second, []time.Duration{56 * time.Second, 57 * time.Second, 58 * time.Second, 59 * time.Second, 60 * time.Second}, 56, 61 * time.Second, 60 * time.Second},
		{"down, no grace", 10500 * time.Millisecond, 0, []time.Duration{10 * time.Second}, 10, 11 * time.Second, 10 * time.Second},
	} {
		p := Plan(sched, base, base.Add(c.now), c.grace)
		var start []time.Duration
		for _, s := range p.Start {
			start = append(start, s.Sub(base))
		}
		if len(start) != len(c.start) || p.Missed != c.missed || p.Next.Sub(base) != c.next || p.Last.Sub(base) != c.last {
			t.Errorf("%s: start %v missed %d next %s last %s, want %v %d %s %s", c.name, start, p.Missed,
				p.Next.Sub(base), p.Last.Sub(base), c.start, c.missed, c.next, c.last)
			continue
		}
		for i := range start {
			if start[i] != c.start[i] {
				t.Errorf("%s: start %v, want %v", c.name, start, c.start)
			}
		}
	}
	// Not yet due: nothing.
	if p := Plan(sched, base, base.Add(-time.Millisecond), time.Second); len(p.Start) != 0 || p.Missed != 0 || !p.Next.Equal(base) {
		t.Errorf("before the fire time: %+v", p)
	}
}

// When clocks go back, a fixed-time cron fires once, as cron does (vixie cron, cronie): the
// wall time it names happens twice, the job runs at the first. A cron with a wildcard hour or
// minute is a rhythm, and keeps it through the repeated hour.
func TestAFixedTimeFiresOnceWhenClocksGoBack(t *testing.T) {
	// 2026-11-01 01:00-02:00 happens twice in New York: EDT (UTC-4), then EST (UTC-5).
	evening := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC) // 23:00 EDT the day before
	for _, c := range []struct {
		spec string
		want []time.Time
	}{
		{"30 1 * * *", []time.Time{time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC)}},
		{"0,30 1 * * *", []time.Time{time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC),
			time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)}},
		{"@daily", []time.Time{time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC)}},
		{"30 * * * *", []time.Time{time.Date(2026, 11, 1, 3, 30, 0, 0, time.UTC), time.Date(2026, 11, 1, 4, 30, 0, 0, time.UTC),
			time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)}},
		{"*/30 1 * * *", []time.Time{time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC),
			time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)}},
	} {
		wantFires(t, c.spec, "America/New_York", evening, c.want)
	}
}

// When clocks go forward, a fixed-time cron whose wall time does not exist that day fires at
// the first instant after the gap, as cron does (robfig skipped that day).
func TestAFixedTimeInTheGapFiresWhenClocksGoForward(t *testing.T) {
	// 2026-03-29 02:00-03:00 does not exist in Berlin: 02:00 CET (01:00 UTC) is 03:00 CEST.
	evening := time.Date(2026, 3, 28, 20, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		spec string
		want []time.Time
	}{
		{"30 2 * * *", []time.Time{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 30, 0, 0, time.UTC)}},
		{"0,30 2 * * *", []time.Time{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)}},
		{"15 3 * * *", []time.Time{time.Date(2026, 3, 29, 1, 15, 0, 0, time.UTC), time.Date(2026, 3, 30, 1, 15, 0, 0, time.UTC)}},
		// A rhythm keeps its rhythm: the hour that does not exist has no fires.
		{"0 * * * *", []time.Time{time.Date(2026, 3, 28, 21, 0, 0, 0, time.UTC), time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)}},
	} {
		wantFires(t, c.spec, "Europe/Berlin", evening, c.want)
	}
}

// wantFires checks the first fire times of spec in tz after from.
func wantFires(t *testing.T, spec, tz string, from time.Time, want []time.Time) {
	t.Helper()
	next := mustParse(t, spec, tz)
	got := make([]time.Time, 0, len(want))
	for at := from; len(got) < len(want); {
		at = next(at)
		got = append(got, at)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("%s: fires at %v, want %v", spec, got, want)
			return
		}
	}
}
