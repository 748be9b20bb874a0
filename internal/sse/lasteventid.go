package sse

import (
	"strconv"
	"strings"

	"jobs/internal/apperr"
)

// ParseLastEventID reads a Last-Event-ID header: the id to resume after, and whether the
// client is resuming at all (an empty header is a first connection).
func ParseLastEventID(s string) (int64, bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, apperr.Invalid("Last-Event-ID must be an event id (a non-negative integer), not %q", s)
	}
	return n, true, nil
}
