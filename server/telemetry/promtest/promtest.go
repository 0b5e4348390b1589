// Package promtest scrapes Prometheus text for tests: ferry's /metrics,
// parsed into series that a test looks up by name and labels.
package promtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series: its labels and value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Scrape is one scrape, by metric name.
type Scrape map[string][]Sample

// Get scrapes url (http://host:port/metrics).
func Get(t testing.TB, url string) Scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s", url, resp.Status)
	}
	return parse(t, resp.Body)
}

// Handler scrapes h, a metrics handler, without a listener.
func Handler(t testing.TB, h http.Handler) Scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scraping: %d %s", rec.Code, rec.Body)
	}
	return parse(t, rec.Body)
}

func parse(t testing.TB, r io.Reader) Scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	out := Scrape{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := Sample{Labels: map[string]string{}, Value: value(f.GetType(), m)}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}

// Find returns the series of name whose labels include want.
func (s Scrape) Find(name string, want map[string]string) []Sample {
	var out []Sample
	for _, sm := range s[name] {
		if matches(sm.Labels, want) {
			out = append(out, sm)
		}
	}
	return out
}

// Value returns the value of the one series of name whose labels include
// want; ok is false when there is none, and the test fails when there are
// several.
func (s Scrape) Value(t testing.TB, name string, want map[string]string) (v float64, ok bool) {
	t.Helper()
	found := s.Find(name, want)
	switch len(found) {
	case 0:
		return 0, false
	case 1:
		return found[0].Value, true
	}
	t.Fatalf("%d series of %s with %v: %v", len(found), name, want, found)
	return 0, false
}

// Sum adds the values of the series of name whose labels include want.
func (s Scrape) Sum(name string, want map[string]string) float64 {
	var sum float64
	for _, sm := range s.Find(name, want) {
		sum += sm.Value
	}
	return sum
}

// Names lists the metric names that start with prefix, sorted.
func (s Scrape) Names(prefix string) []string {
	var out []string
	for name := range s {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// WithLabel lists the metric names that have a series with label=value.
func (s Scrape) WithLabel(label, value string) []string {
	var out []string
	for name, samples := range s {
		for _, sm := range samples {
			if sm.Labels[label] == value {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}
