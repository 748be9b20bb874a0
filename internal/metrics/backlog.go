package metrics

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zeromicro/go-zero/core/logx"

	"jobs/model"
)

// BacklogSource reads the pending jobs of every tenant by function (model.StatsModel).
type BacklogSource interface {
	PendingByFunction(ctx context.Context) ([]model.FunctionBacklog, error)
}

// backlogTimeout bounds the backlog query of one scrape.
const backlogTimeout = 2 * time.Second

var (
	pendingDesc = prometheus.NewDesc("jobs_pending",
		"Pending jobs of every tenant (due and delayed), by function. Read from MySQL: every process reports the same value, aggregate with max.",
		[]string{"function"}, nil)
	oldestDueDesc = prometheus.NewDesc("jobs_oldest_due_pending_age_seconds",
		"Age of the pending job due the longest (since its runAt, else its creation), by function; 0 when none is due. Read from MySQL: aggregate with max.",
		[]string{"function"}, nil)
)

// backlogCollector reads the backlog on scrape, at most once per cacheFor; the age of the
// oldest due job is computed at each scrape from the cached time it became due.
type backlogCollector struct {
	mu sync.Mutex
	// watches are the sources watched and not unwatched, in the order watched; the last
	// one is read.
	watches []*backlogWatch
	readAt  time.Time
	rows    []model.FunctionBacklog
}

type backlogWatch struct {
	source    BacklogSource
	functions func() []string
	cacheFor  time.Duration
}

var (
	backlog         = &backlogCollector{}
	registerBacklog sync.Once
)

// WatchBacklog reports the pending backlog read from source, at most once per cacheFor
// however often /metrics is scraped. functions lists the registered function ids, reported
// with 0 while they have nothing pending. One source per process: the one watched last and
// not yet unwatched (tests run several apps in one process). Calling unwatch, before the
// source closes, stops reading it.
func WatchBacklog(source BacklogSource, functions func() []string, cacheFor time.Duration) (unwatch func()) {
	registerBacklog.Do(func() { prometheus.MustRegister(backlog) })
	w := &backlogWatch{source: source, functions: functions, cacheFor: cacheFor}
	backlog.mu.Lock()
	defer backlog.mu.Unlock()
	backlog.watches = append(backlog.watches, w)
	backlog.readAt, backlog.rows = time.Time{}, nil
	return func() {
		backlog.mu.Lock()
		defer backlog.mu.Unlock()
		if i := slices.Index(backlog.watches, w); i >= 0 {
			backlog.watches = slices.Delete(backlog.watches, i, i+1)
			// The rows cached may be this source's: read the one reported now afresh.
			backlog.readAt, backlog.rows = time.Time{}, nil
		}
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- oldestDueDesc
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.watches) == 0 {
		return
	}
	w := c.watches[len(c.watches)-1]
	now := time.Now()
	if now.Sub(c.readAt) >= w.cacheFor {
		// Read at most once per cacheFor even while MySQL fails, so that scrapes during an
		// outage do not pile queries on it; the last values are reported meanwhile.
		c.readAt = now
		ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
		rows, err := w.source.PendingByFunction(ctx)
		cancel()
		if err != nil {
			logx.Errorf("metrics: read the pending backlog: %v", err)
		} else {
			c.rows = rows
		}
	}
	reported := make(map[string]bool)
	for _, r := range c.rows {
		reported[r.FunctionId] = true
		age := 0.0
		if r.OldestDue.Valid {
			age = max(now.Sub(r.OldestDue.Time).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(r.Pending), r.FunctionId)
		ch <- prometheus.MustNewConstMetric(oldestDueDesc, prometheus.GaugeValue, age, r.FunctionId)
	}
	for _, fn := range w.functions() {
		if !reported[fn] {
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, 0, fn)
			ch <- prometheus.MustNewConstMetric(oldestDueDesc, prometheus.GaugeValue, 0, fn)
		}
	}
}
