package testutil

import (
	"fmt"
	"net"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Metrics is one scrape of a /metrics endpoint, parsed from the Prometheus text format.
type Metrics map[string]*dto.MetricFamily

// Scrape reads and parses url (a /metrics endpoint).
func Scrape(t testing.TB, url string) Metrics {
	t.Helper()
	m, err := TryScrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TryScrape is Scrape reporting failures, for waiting on an endpoint to come up.
func TryScrape(url string) (Metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return families, nil
}

// Value returns the value of the series of family name whose labels include labels (pairs
// of name, value): a counter's or gauge's value, a histogram's count. ok is false when no
// such series exists.
func (m Metrics) Value(name string, labels ...string) (value float64, ok bool) {
	family := m[name]
	if family == nil {
		return 0, false
	}
	for _, metric := range family.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.Counter != nil:
			return metric.Counter.GetValue(), true
		case metric.Gauge != nil:
			return metric.Gauge.GetValue(), true
		case metric.Histogram != nil:
			return float64(metric.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// Sum returns the sum of the histogram series of family name whose labels include labels.
func (m Metrics) Sum(name string, labels ...string) float64 {
	if family := m[name]; family != nil {
		for _, metric := range family.GetMetric() {
			if hasLabels(metric, labels) && metric.Histogram != nil {
				return metric.Histogram.GetSampleSum()
			}
		}
	}
	return 0
}

// Type returns the type of family name ("" if absent).
func (m Metrics) Type(name string) string {
	if family := m[name]; family != nil {
		return family.GetType().String()
	}
	return ""
}

func hasLabels(metric *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range metric.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
