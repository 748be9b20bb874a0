package jobview_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"jobs/internal/apperr"
	"jobs/internal/jobview"
	"jobs/internal/types"
)

// checkInvalid fails unless err is an InvalidArgument whose message starts with name.
func checkInvalid(t *testing.T, input string, err error, names ...string) {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind != apperr.InvalidArgument {
		t.Fatalf("%s: error %v (%T) is not an InvalidArgument", input, err, err)
	}
	for _, name := range names {
		if strings.HasPrefix(e.Message, name) {
			return
		}
	}
	t.Fatalf("%s: %q names none of %v", input, e.Message, names)
}

// FuzzParseListQuery feeds list filters to ParseListQuery: it never panics, a refusal names
// the parameter, and an accepted filter is in range and comes back the same when written
// back as a query. (Regression cases in testdata/fuzz: times an offset moves out of the
// years 0001-9999.)
func FuzzParseListQuery(f *testing.F) {
	f.Add("pending", "01900000-0000-7000-8000-000000000000,01900000-0000-7000-8000-000000000001", "2026-03-02T13:00:00+01:00", "1700000000000", "asc", "2", "50")
	f.Add("done", "nope", "yesterday", "2000-01-01T00:00:00Z", "newest", "0", "101")
	f.Add("", "", "", "253402300799999", "desc", "2147483648", "-1")
	f.Add("running", ",", "9999-12-31T23:59:59.999999999Z", "1e3", "", "1", "")
	f.Fuzz(func(t *testing.T, status, ids, from, to, order, page, size string) {
		req := types.ListJobsReq{Status: status, Ids: ids, CreatedFrom: from, CreatedTo: to, Order: order, Page: page, Size: size}
		input := strconv.Quote(status + "|" + ids + "|" + from + "|" + to + "|" + order + "|" + page + "|" + size)
		const maxSize = 100
		filter, err := jobview.ParseListQuery(&req, maxSize)
		if err != nil {
			checkInvalid(t, input, err, "status", "ids", "created_from", "created_to", "order", "page", "size")
			return
		}
		if filter.Page < 1 || filter.Size < 1 || filter.Size > maxSize || len(filter.Ids) > jobview.MaxIDs ||
			!filter.Status.Valid() && filter.Status != "" {
			t.Fatalf("%s: accepted out of range: %+v", input, filter)
		}
		for _, tm := range []time.Time{filter.CreatedFrom, filter.CreatedTo} {
			if !tm.IsZero() && (tm.Location() != time.UTC || tm.Year() < 1 || tm.Year() > 9999) {
				t.Fatalf("%s: accepted time %v", input, tm)
			}
		}
		back := types.ListJobsReq{Status: string(filter.Status), Ids: strings.Join(filter.Ids, ","), Order: "desc",
			Page: strconv.FormatInt(filter.Page, 10), Size: strconv.FormatInt(filter.Size, 10)}
		if filter.Ascending {
			back.Order = "asc"
		}
		if !filter.CreatedFrom.IsZero() {
			back.CreatedFrom = filter.CreatedFrom.Format(time.RFC3339Nano)
		}
		if !filter.CreatedTo.IsZero() {
			back.CreatedTo = filter.CreatedTo.Format(time.RFC3339Nano)
		}
		again, err := jobview.ParseListQuery(&back, maxSize)
		if err != nil || !reflect.DeepEqual(again, filter) {
			t.Fatalf("%s: %+v written back as %+v parses as %+v (%v)", input, filter, back, again, err)
		}
	})
}

// FuzzParseRunAt (regression cases in testdata/fuzz: year 0, and an offset past 9999): never
// a panic; a refusal names runAt; an accepted time is UTC, in the
// years a DATETIME holds, whole milliseconds, and reads back the same from its API form.
func FuzzParseRunAt(f *testing.F) {
	for _, seed := range []string{"2026-11-21T10:00:00Z", "2026-11-21T10:00:00.123456+05:30",
		"9999-12-31T23:59:59.999Z", "tomorrow", "", "2026-13-01T00:00:00Z", "1700000000000"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, err := jobview.ParseRunAt(s)
		if err != nil {
			checkInvalid(t, strconv.Quote(s), err, "runAt")
			return
		}
		if s == "" {
			if !at.IsZero() {
				t.Fatalf("no runAt parsed as %v", at)
			}
			return
		}
		if at.Location() != time.UTC || at.Year() < 1 || at.Year() > 9999 || at.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("%q: accepted %v", s, at)
		}
		again, err := jobview.ParseRunAt(jobview.FormatTime(at))
		if err != nil || !again.Equal(at) {
			t.Fatalf("%q: %v formatted as %s reads back as %v (%v)", s, at, jobview.FormatTime(at), again, err)
		}
	})
}
