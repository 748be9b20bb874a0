package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Order is the order of a list by creation time.
type Order string

const (
	NewestFirst Order = "desc" // the service's default
	OldestFirst Order = "asc"
)

// ListFilter selects and pages jobs; zero fields do not filter.
type ListFilter struct {
	Status     Status
	FunctionID string
	Actor      string
	GameID     string
	Env        string
	Name       string
	// IDs lists up to 100 job ids: the batch status query.
	IDs []string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound the creation time.
	CreatedFrom time.Time
	CreatedTo   time.Time
	Order       Order
	// Page (from 1) and Size (1..100) page the list; 0 keeps the service's defaults (1, 20).
	Page int
	Size int
}

// query is the filter as the list route's query parameters.
func (f ListFilter) query() url.Values {
	q := url.Values{}
	set := func(key, value string) {
		if value != "" {
			q.Set(key, value)
		}
	}
	setTime := func(key string, t time.Time) {
		if !t.IsZero() {
			q.Set(key, t.UTC().Format(time.RFC3339Nano))
		}
	}
	setInt := func(key string, n int) {
		if n != 0 {
			q.Set(key, strconv.Itoa(n))
		}
	}
	set("status", string(f.Status))
	set("function_id", f.FunctionID)
	set("actor", f.Actor)
	set("game_id", f.GameID)
	set("env", f.Env)
	set("name", f.Name)
	set("ids", strings.Join(f.IDs, ","))
	setTime("created_from", f.CreatedFrom)
	setTime("created_to", f.CreatedTo)
	set("order", string(f.Order))
	setInt("page", f.Page)
	setInt("size", f.Size)
	return q
}

// List returns one page of the caller's jobs that match f.
func (c *Client) List(ctx context.Context, f ListFilter) (*JobList, error) {
	return fetch[JobList](ctx, c, call{method: http.MethodGet, path: "/jobs", query: f.query(), bare: true})
}

// ListAll yields every job that matches f, page after page from f.Page (of f.Size jobs),
// until a page comes back short. An error is yielded once and ends the iteration.
//
// The list has offset paging only, and offsets shift while ListAll reads: jobs started
// meanwhile push older ones back (newest first), and jobs that leave the filter (a pending
// job that starts, with Status pending) pull later ones forward past the page being read.
// So after each page ListAll narrows the creation-time range to the last job's millisecond
// and on (CreatedTo newest first, CreatedFrom oldest first) and reads from the range's first
// page again, skipping the jobs it has already yielded; it moves on by page only among jobs
// of one millisecond. Each job comes once, and none that matches throughout is missed.
//
// Once a page has come, a page that gets no answer, or a 5xx, 408 or 429, is asked for again
// as Watch reconnects (backing off from 250 ms to 5 s or as a Retry-After asks, for up to a
// minute), so a walk rides out a restart of the service; a first page's failure is yielded
// at once.
//
// An admin token's list of every tenant is ordered by id, not creation time, so a creation
// time says nothing of what follows it: there ListAll only moves on page by page, and a job
// that leaves the filter can still make it miss one.
func (c *Client) ListAll(ctx context.Context, f ListFilter) iter.Seq2[JobItem, error] {
	byCreation := !c.seesEveryTenant()
	return func(yield func(JobItem, error) bool) {
		seen := make(map[string]bool)
		f.Page = max(f.Page, 1)
		begun := false
		var failing outage
		for {
			list, err := c.List(ctx, f)
			if err != nil && begun && transient(err) && ctx.Err() == nil {
				if err = failing.pause(ctx, err, c.reconnectFor); err == nil {
					continue
				} else if ctx.Err() == nil {
					err = fmt.Errorf("jobs client: list jobs: %w", err)
				}
			}
			if err != nil {
				yield(JobItem{}, err)
				return
			}
			begun = true
			failing.over()
			for _, job := range list.Jobs {
				if seen[job.ID] {
					continue
				}
				seen[job.ID] = true
				if !yield(job, nil) {
					return
				}
			}
			if int64(len(list.Jobs)) < list.Size || len(list.Jobs) == 0 {
				return
			}
			if !byCreation || !f.narrowTo(list.Jobs[len(list.Jobs)-1].CreatedAt) {
				f.Page++
			}
		}
	}
}

// narrowTo bounds f's creation-time range at last's millisecond, inclusive, on the side the
// list moves towards, and restarts at page 1 if that narrowed it; it reports whether it did.
// The range only ever narrows: every job listed lies in it.
func (f *ListFilter) narrowTo(last time.Time) bool {
	if f.Order == OldestFirst {
		if !last.After(f.CreatedFrom) {
			return false
		}
		f.CreatedFrom = last
	} else {
		to := last.Truncate(time.Millisecond).Add(time.Millisecond)
		if !f.CreatedTo.IsZero() && !to.Before(f.CreatedTo) {
			return false
		}
		f.CreatedTo = to
	}
	f.Page = 1
	return true
}

// seesEveryTenant reports whether the client's token is an admin's (role "admin" among its
// claims, docs/API_EXTENSIONS.md), whose lists are of every tenant. The claims are read, not
// verified: that is the service's part.
func (c *Client) seesEveryTenant() bool {
	parts := strings.Split(c.token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Role string `json:"role"`
	}
	return json.Unmarshal(payload, &claims) == nil && claims.Role == "admin"
}
