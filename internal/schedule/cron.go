// Package schedule is periodic starts: it reads a schedule's cron and timezone, checks what
// a schedule may be, shows schedules as the API does, and runs the Scheduler that starts
// each fire time's job exactly once, however many processes run one (docs/SCHEDULES.md).
package schedule

import (
	"strings"
	"time"
	// Time zones must resolve on any machine, a container without /usr/share/zoneinfo too.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"jobs/internal/apperr"
	"jobs/internal/jobview"
	"jobs/model"
)

// parser reads the 5 standard fields (minute hour day-of-month month day-of-week) and the
// descriptors (@yearly, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>).
// robfig/cron is the parser most Go schedulers use; only its parser and schedules are used,
// not its runner: firing is ours, a compare-and-set in MySQL.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// CheckID checks a schedule id as given at create.
func CheckID(id string) error {
	if id == "" {
		return apperr.Invalid("id is required")
	}
	return jobview.CheckScheduleID("id", id)
}

// CheckOverlap checks an overlap policy; "" is allow.
func CheckOverlap(overlap string) (string, error) {
	switch overlap {
	case "", model.OverlapAllow:
		return model.OverlapAllow, nil
	case model.OverlapSkip:
		return overlap, nil
	}
	return "", apperr.Invalid("overlap must be allow or skip, not %q", overlap)
}

// LoadTimezone resolves an IANA time zone name; "" is UTC.
func LoadTimezone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	// "Local" is the server's zone, which differs from machine to machine.
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, apperr.Invalid("timezone %q is not an IANA time zone name such as UTC or Europe/Berlin", name)
	}
	return loc, nil
}

// Parse reads spec in the time zone named timezone. Errors name the field (cron or
// timezone) and are 400s.
func Parse(spec, timezone string) (cron.Schedule, error) {
	loc, err := LoadTimezone(timezone)
	if err != nil {
		return nil, err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, apperr.Invalid("cron is required")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, apperr.Invalid("cron %q: give the time zone in timezone, not in cron", spec)
	}
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		// robfig/cron rounds a delay under a second up to one and drops fractions silently.
		d, err := time.ParseDuration(strings.TrimSpace(every))
		if err == nil && (d < time.Second || d%time.Second != 0) {
			return nil, apperr.Invalid("cron %q: @every takes whole seconds, at least 1s", spec)
		}
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, apperr.Invalid("cron %q is neither 5 fields (minute hour day-of-month month day-of-week) "+
			"nor a descriptor such as @hourly or @every 30s: %v", spec, err)
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		s.Location = loc
		// robfig/cron gives up after five years: "0 0 30 2 *" (February 30th) never fires.
		if s.Next(time.Now()).IsZero() {
			return nil, apperr.Invalid("cron %q never fires", spec)
		}
		if fixedTime(spec) {
			return onceAWallTime{s}, nil
		}
	}
	return sched, nil
}

// fixedTime reports whether spec names times of day (neither its minute nor its hour is a
// wildcard, as in "30 1 * * *" or @daily) rather than a rhythm ("*/15 * * * *", @hourly).
func fixedTime(spec string) bool {
	switch spec {
	case "@hourly":
		return false
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight":
		return true
	}
	fields := strings.Fields(spec)
	return len(fields) == 5 && !strings.HasPrefix(fields[0], "*") && !strings.HasPrefix(fields[1], "*")
}

// onceAWallTime is a fixed-time schedule that fires as cron does across daylight-saving
// changes: once when clocks go back, at the first of the two times its wall time happens
// (robfig/cron fires at both), and, when clocks go forward over its wall time, at the first
// instant after the gap (robfig/cron skips that day).
type onceAWallTime struct{ *cron.SpecSchedule }

func (s onceAWallTime) Next(t time.Time) time.Time {
	next := s.SpecSchedule.Next(t)
	for !next.IsZero() && secondPass(next.In(s.Location)) {
		next = s.SpecSchedule.Next(next)
	}
	if gapEnd, ok := s.firesInGap(t, next); ok {
		return gapEnd.In(t.Location())
	}
	return next
}

// firesInGap returns the end of the first gap (clocks going forward) after t and before next
// that holds a wall time the schedule names.
func (s onceAWallTime) firesInGap(t, next time.Time) (time.Time, bool) {
	for at := t.In(s.Location); !next.IsZero(); {
		_, end := at.ZoneBounds()
		if end.IsZero() || !end.Before(next) {
			return time.Time{}, false
		}
		_, before := at.Zone()
		if _, after := end.Zone(); after > before {
			// On the clock of before, the instants from end on read the missing wall times.
			onClock := *s.SpecSchedule
			onClock.Location = time.FixedZone("", before)
			from := end.Add(-time.Second)
			if t.After(from) {
				from = t
			}
			if fire := onClock.Next(from); !fire.IsZero() && fire.Before(end.Add(time.Duration(after-before)*time.Second)) {
				return end, true
			}
		}
		at = end
	}
	return time.Time{}, false
}

// secondPass reports whether t's wall time (in t's location) happened already that day: t
// falls in the hour (or so) that repeats after clocks went back.
func secondPass(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, offset := t.Zone()
	_, before := start.Add(-time.Nanosecond).Zone()
	back := time.Duration(before-offset) * time.Second
	return back > 0 && t.Before(start.Add(back))
}

// Next returns the first fire time of sched after t, in UTC to the millisecond (the
// precision MySQL keeps).
func Next(sched cron.Schedule, t time.Time) time.Time {
	return sched.Next(t).UTC().Truncate(time.Millisecond)
}
