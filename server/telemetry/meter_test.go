package telemetry_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
	"github.com/ferrykafka/ferry/server/telemetry"
	"github.com/ferrykafka/ferry/server/telemetry/promtest"
	"github.com/ferrykafka/ferry/sessions"
)

type fakeSource struct{ st sessions.SourceStats }

func (f fakeSource) Stats(time.Time) sessions.SourceStats { return f.st }

type fakeSink struct{ st sink.Stats }

func (f fakeSink) Stats() sink.Stats { return f.st }

// live is a settable list of open sessions.
type live struct {
	mu   sync.Mutex
	list []telemetry.Session
}

func (l *live) set(s ...telemetry.Session) { l.mu.Lock(); l.list = s; l.mu.Unlock() }
func (l *live) get() []telemetry.Session   { l.mu.Lock(); defer l.mu.Unlock(); return l.list }

func setup(t *testing.T, l *live) (*telemetry.Providers, *telemetry.Metrics) {
	t.Helper()
	p, err := telemetry.Setup(context.Background(), telemetry.Config{Prometheus: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	m, err := telemetry.NewMetrics(p.Meter, telemetry.Server{
		Sessions: l.get,
		Usage: func() sessions.Usage {
			return sessions.Usage{Sessions: 2, MemoryInUse: 96 << 20, MemoryBudget: 1 << 30}
		},
		PendingStreams: func() int { return 3 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

func ptr[T any](v T) *T { return &v }

// TestMetricsBySession: each open session's figures are series with its
// attributes, under the Prometheus names the README lists; the series of a
// session that closed are gone at the next scrape, counters included.
func TestMetricsBySession(t *testing.T) {
	l := &live{}
	p, m := setup(t, l)
	src := telemetry.Session{ID: "source-1", Principal: "alice", Cluster: "main", Group: "g", Source: fakeSource{sessions.SourceStats{
		RecordsIn: 10, BytesIn: 1000, CommitsSucceeded: 2, CommitsFailed: 1, IdleTime: 1500 * time.Millisecond,
		EmitEventTimeLag: ptr(2 * time.Second), PendingRecords: ptr(int64(7)),
		Splits: []sessions.SplitStats{
			{TopicPartition: source.TopicPartition{Topic: "t", Partition: 0}, Current: 5, Committed: 4, End: 9, Stop: source.NoStop},
			{TopicPartition: source.TopicPartition{Topic: "t", Partition: 1}, Current: 3, Committed: -1, End: 6, Stop: source.NoStop},
		},
	}}}
	snk := telemetry.Session{ID: "sink-1", Principal: "bob", Cluster: "main", Guarantee: telemetry.ExactlyOnce, TransactionalIDPrefix: "tx",
		Sink: fakeSink{sink.Stats{RecordsOut: 20, BytesOut: 2000, RecordsOutErrors: 1, SendTime: 40 * time.Millisecond,
			TransactionsPrepared: 3, TransactionsCommitted: 2, TransactionsAborted: 1, TransactionsRecovered: 4}}}
	l.set(src, snk)
	m.Refused(context.Background(), "source", "permission_denied")

	s := promtest.Handler(t, p.MetricsHandler())
	srcLabels := map[string]string{"session_id": "source-1", "principal": "alice", "cluster": "main", "group": "g"}
	sinkLabels := map[string]string{"session_id": "sink-1", "principal": "bob", "cluster": "main", "delivery_guarantee": "exactly_once", "transactional_id_prefix": "tx"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ferry_source_records_in_total", srcLabels, 10},
		{"ferry_source_bytes_in_total", srcLabels, 1000},
		{"ferry_source_commits_succeeded_total", srcLabels, 2},
		{"ferry_source_commits_failed_total", srcLabels, 1},
		{"ferry_source_idle_time_seconds", srcLabels, 1.5},
		{"ferry_source_current_emit_event_time_lag_seconds", srcLabels, 2},
		{"ferry_source_pending_records", srcLabels, 7},
		{"ferry_source_current_offset", map[string]string{"session_id": "source-1", "topic": "t", "partition": "0"}, 5},
		{"ferry_source_current_offset", map[string]string{"session_id": "source-1", "topic": "t", "partition": "1"}, 3},
		{"ferry_source_committed_offset", map[string]string{"session_id": "source-1", "topic": "t", "partition": "0", "group": "g"}, 4},
		{"ferry_source_committed_offset", map[string]string{"session_id": "source-1", "topic": "t", "partition": "1"}, -1},
		{"ferry_sink_records_out_total", sinkLabels, 20},
		{"ferry_sink_bytes_out_total", sinkLabels, 2000},
		{"ferry_sink_records_out_errors_total", sinkLabels, 1},
		{"ferry_sink_current_send_time_seconds", sinkLabels, 0.04},
		{"ferry_sink_transactions_prepared_total", sinkLabels, 3},
		{"ferry_sink_transactions_committed_total", sinkLabels, 2},
		{"ferry_sink_transactions_aborted_total", sinkLabels, 1},
		{"ferry_sink_transactions_recovered_total", sinkLabels, 4},
		{"ferry_sessions_open", map[string]string{"kind": "source"}, 1},
		{"ferry_sessions_open", map[string]string{"kind": "sink"}, 1},
		{"ferry_sessions_refused_total", map[string]string{"kind": "source", "reason": "permission_denied"}, 1},
		{"ferry_memory_in_use_bytes", nil, 96 << 20},
		{"ferry_memory_budget_bytes", nil, 1 << 30},
		{"ferry_streams_pending", nil, 3},
	} {
		if got, ok := s.Value(t, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// No watermark was sent: no watermarkLag, as in Flink.
	if got := s.Find("ferry_source_watermark_lag_seconds", nil); len(got) != 0 {
		t.Errorf("watermark lag without a watermark: %v", got)
	}

	// The source closes: every series naming it is gone, the sink's stay.
	l.set(snk)
	s = promtest.Handler(t, p.MetricsHandler())
	if names := s.WithLabel("session_id", "source-1"); len(names) != 0 {
		t.Errorf("series of the closed session: %v", names)
	}
	if _, ok := s.Value(t, "ferry_sink_records_out_total", sinkLabels); !ok {
		t.Error("the open sink's series are gone")
	}
	if got, _ := s.Value(t, "ferry_sessions_open", map[string]string{"kind": "source"}); got != 0 {
		t.Errorf("open sources %v, want 0", got)
	}

	// Close stops observing: the server's series are gone.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	s = promtest.Handler(t, p.MetricsHandler())
	if names := s.WithLabel("session_id", "sink-1"); len(names) != 0 {
		t.Errorf("series after Close: %v", names)
	}
}

// TestMetricsOff: without Prometheus and OTLP, the providers record nothing
// and the Kafka clients get no metrics hooks.
func TestMetricsOff(t *testing.T) {
	p, err := telemetry.Setup(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.MetricsOn || p.MetricsHandler() != nil || len(p.KafkaHooks(true)) != 0 {
		t.Errorf("metrics on without an exporter: %v %v %v", p.MetricsOn, p.MetricsHandler(), p.KafkaHooks(true))
	}
	p, err = telemetry.Setup(context.Background(), telemetry.Config{Prometheus: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if len(p.KafkaHooks(true)) != 1 || len(p.KafkaHooks(false)) != 0 {
		t.Errorf("KafkaHooks: %d with client metrics, %d without", len(p.KafkaHooks(true)), len(p.KafkaHooks(false)))
	}
}

// TestREADMEListsEveryMetric keeps the README's metrics table up to date:
// every series ferry exports by itself is named there, by its Prometheus
// and its OpenTelemetry name.
func TestREADMEListsEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	l := &live{}
	p, m := setup(t, l)
	l.set(telemetry.Session{ID: "s", Source: fakeSource{sessions.SourceStats{EmitEventTimeLag: ptr(time.Second), WatermarkLag: ptr(time.Second),
		PendingRecords: ptr(int64(1)), Splits: []sessions.SplitStats{{TopicPartition: source.TopicPartition{Topic: "t"}}}}}},
		telemetry.Session{ID: "k", Guarantee: telemetry.ExactlyOnce, Sink: fakeSink{}})
	m.Refused(context.Background(), "sink", "not_found")
	s := promtest.Handler(t, p.MetricsHandler())
	names := s.Names("ferry_")
	if len(names) < 23 { // every instrument of meter.go
		t.Fatalf("only %d ferry metrics: %v", len(names), names)
	}
	for _, name := range names {
		// ferry_sink_transactions_committed_total is listed as `_committed`
		// after ferry_sink_transactions_prepared_total.
		short := strings.TrimPrefix(strings.TrimSuffix(name, "_total"), "ferry_sink_transactions")
		if !strings.Contains(readme, "`"+name+"`") && !strings.Contains(readme, "`"+short+"`") {
			t.Errorf("README.md does not list %s", name)
		}
	}
}
