package telemetry

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/sessions"
)

// This file holds ferry's own instruments: the seed's source and sink
// metrics by session (Flink's names in the descriptions and the README),
// and the server's. Every per-session series is observed in one callback
// over the sessions open at that moment, from figures the sessions keep in
// atomics (sessions.SourceStats, sink.Stats): recording costs the record
// path nothing, and the series of a session that ended are gone at the
// next collection, counters included.

// meterName is the instrumentation scope of ferry's instruments.
const meterName = "github.com/ferrykafka/ferry"

// Attribute keys of ferry's metrics.
const (
	AttrSession   = attribute.Key("session_id")
	AttrPrincipal = attribute.Key("principal")
	AttrCluster   = attribute.Key("cluster")
	AttrGroup     = attribute.Key("group")
	AttrTopic     = attribute.Key("topic")
	AttrPartition = attribute.Key("partition")
	AttrGuarantee = attribute.Key("delivery_guarantee")
	AttrTxnPrefix = attribute.Key("transactional_id_prefix")
	AttrKind      = attribute.Key("kind")
	AttrReason    = attribute.Key("reason")
)

// ExactlyOnce is the Session.Guarantee of EXACTLY_ONCE sinks.
const ExactlyOnce = "exactly_once"

// SourceStatser is a source session as the metrics read it.
type SourceStatser interface {
	Stats(now time.Time) sessions.SourceStats
}

// SinkStatser is a sink session as the metrics read it.
type SinkStatser interface{ Stats() sink.Stats }

// Session is one open session as the metrics see it: its attributes and
// where its figures are. Exactly one of Source and Sink is set.
type Session struct {
	ID        string
	Principal string // "" without authentication
	Cluster   string
	// Group is a source's consumer group, "" for none.
	Group string
	// Guarantee is a sink's delivery guarantee: none, at_least_once or
	// ExactlyOnce, whose sinks have the transaction counters.
	Guarantee string
	// TransactionalIDPrefix is an EXACTLY_ONCE sink's.
	TransactionalIDPrefix string
	Source                SourceStatser
	Sink                  SinkStatser
}

// attrs are the attributes of every series of the session.
func (s *Session) attrs() []attribute.KeyValue {
	kvs := []attribute.KeyValue{AttrSession.String(s.ID), AttrPrincipal.String(s.Principal), AttrCluster.String(s.Cluster)}
	for _, kv := range []attribute.KeyValue{AttrGroup.String(s.Group), AttrGuarantee.String(s.Guarantee), AttrTxnPrefix.String(s.TransactionalIDPrefix)} {
		if kv.Value.AsString() != "" {
			kvs = append(kvs, kv)
		}
	}
	return kvs
}

// Server is what the metrics read of the server at each collection.
type Server struct {
	// Sessions lists the open sessions.
	Sessions func() []Session
	// Usage is what open sessions hold (the memory budget).
	Usage func() sessions.Usage
	// PendingStreams counts the streams that have not sent open yet.
	PendingStreams func() int
	// Connections counts the client connections open.
	Connections func() int
}

// Metrics are ferry's instruments. Refused is the one the server calls;
// the others are observed at each collection.
type Metrics struct {
	refused  metric.Int64Counter
	srv      Server
	inst     observed
	callback metric.Registration
}

// observed are the instruments read in the collection callback.
type observed struct {
	// source
	recordsIn, bytesIn, commitsOK, commitsFailed metric.Int64ObservableCounter
	idle, emitLag, watermarkLag                  metric.Float64ObservableGauge
	pending, current, committed                  metric.Int64ObservableGauge
	// sink
	sendTime                                            metric.Float64ObservableGauge
	recordsOut, bytesOut, recordsOutErrors              metric.Int64ObservableCounter
	txnPrepared, txnCommitted, txnAborted, txnRecovered metric.Int64ObservableCounter
	// server
	open, memoryInUse, memoryBudget, pendingStreams, connections metric.Int64ObservableGauge
}

// NewMetrics creates ferry's instruments on mp and observes srv at each
// collection.
func NewMetrics(mp metric.MeterProvider, srv Server) (*Metrics, error) {
	m := &Metrics{srv: srv}
	meter := mp.Meter(meterName)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	seconds := func(name, desc string) metric.Float64ObservableGauge {
		g, err := meter.Float64ObservableGauge(name, metric.WithUnit("s"), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	i := &m.inst
	i.recordsIn = counter("ferry.source.records_in", "{record}", "Records a source session delivered to its client (Flink: numRecordsIn).")
	i.bytesIn = counter("ferry.source.bytes_in", "By", "Bytes of the keys, values and headers of the records a source session delivered (Flink: numBytesIn).")
	i.commitsOK = counter("ferry.source.commits_succeeded", "{commit}", "Offset commits that succeeded (Flink: KafkaSourceReader.commitsSucceeded).")
	i.commitsFailed = counter("ferry.source.commits_failed", "{commit}", "Offset commits that failed; a failed commit is reported and counted, never fatal (Flink: KafkaSourceReader.commitsFailed).")
	i.idle = seconds("ferry.source.idle_time", "How long the source session has had no record to deliver, 0 while it delivers (Flink: sourceIdleTime).")
	i.emitLag = seconds("ferry.source.current_emit_event_time_lag", "From the timestamp of the last record delivered to its delivery, or to when idleness began (Flink: currentEmitEventTimeLag).")
	i.watermarkLag = seconds("ferry.source.watermark_lag", "From the last watermark sent to now, or to when idleness began (Flink: watermarkLag).")
	i.pending = gauge("ferry.source.pending_records", "{record}", "Records between the next offset and the end of the session's splits, the last stable offset under read_committed, as the last fetch saw it (Flink: pendingRecords).")
	i.current = gauge("ferry.source.current_offset", "{offset}", "The next offset the session delivers of a split (Flink: KafkaSourceReader.currentOffsets).")
	i.committed = gauge("ferry.source.committed_offset", "{offset}", "The offset the session last committed of a split, -1 before (Flink: KafkaSourceReader.committedOffsets).")
	i.sendTime = seconds("ferry.sink.current_send_time", "How long Kafka took to acknowledge the last batch it acknowledged in full, from its hand-over (Flink: currentSendTime).")
	i.recordsOut = counter("ferry.sink.records_out", "{record}", "Records Kafka acknowledged (Flink: numRecordsOut).")
	i.bytesOut = counter("ferry.sink.bytes_out", "By", "Bytes of the keys, values and headers of the records handed to Kafka (Flink: numBytesOut).")
	i.recordsOutErrors = counter("ferry.sink.records_out_errors", "{record}", "Records Kafka refused or did not acknowledge (Flink: numRecordsOutErrors).")
	i.txnPrepared = counter("ferry.sink.transactions_prepared", "{transaction}", "Transactions pre-committed at checkpoints (EXACTLY_ONCE).")
	i.txnCommitted = counter("ferry.sink.transactions_committed", "{transaction}", "Transactions committed (EXACTLY_ONCE).")
	i.txnAborted = counter("ferry.sink.transactions_aborted", "{transaction}", "Transactions aborted: the open one at close, lingering ones of earlier runs at open (EXACTLY_ONCE).")
	i.txnRecovered = counter("ferry.sink.transactions_recovered", "{transaction}", "Prepared transactions of a restore state committed at open (EXACTLY_ONCE).")
	i.open = gauge("ferry.sessions.open", "{session}", "Open sessions by kind.")
	i.memoryInUse = gauge("ferry.memory.in_use", "By", "Memory the open sessions reserve against the memory budget: a source its prefetch.max.bytes, a sink its buffer.memory.")
	i.memoryBudget = gauge("ferry.memory.budget", "By", "The memory budget of all sessions (ferry serve --memory-budget).")
	i.pendingStreams = gauge("ferry.streams.pending", "{stream}", "Streams that have not sent open yet.")
	i.connections = gauge("ferry.connections.open", "{connection}", "Client connections open (ferry serve --max-connections bounds them).")
	refused, err := meter.Int64Counter("ferry.sessions.refused", metric.WithUnit("{session}"),
		metric.WithDescription("Opens refused, by kind and reason (a limit, the policy, a bad spec, Kafka)."))
	errs = append(errs, err)
	m.refused = refused
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.callback, err = meter.RegisterCallback(m.observe, i.recordsIn, i.bytesIn, i.commitsOK, i.commitsFailed, i.idle, i.emitLag,
		i.watermarkLag, i.pending, i.current, i.committed, i.sendTime, i.recordsOut, i.bytesOut, i.recordsOutErrors,
		i.txnPrepared, i.txnCommitted, i.txnAborted, i.txnRecovered, i.open, i.memoryInUse, i.memoryBudget, i.pendingStreams, i.connections)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Close stops observing the server: its series are gone from the next
// collection.
func (m *Metrics) Close() error { return m.callback.Unregister() }

// Refused counts an open of kind ("source", "sink") refused for reason.
func (m *Metrics) Refused(ctx context.Context, kind, reason string) {
	m.refused.Add(ctx, 1, metric.WithAttributes(AttrKind.String(kind), AttrReason.String(reason)))
}

// observe reports every observed instrument: the server's figures and each
// open session's.
func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	now := time.Now()
	i := &m.inst
	var sources, sinks int64
	for _, s := range m.srv.Sessions() {
		attrs := s.attrs()
		set := metric.WithAttributeSet(attribute.NewSet(attrs...))
		switch {
		case s.Source != nil:
			sources++
			m.observeSource(o, s.Source.Stats(now), attrs, set)
		case s.Sink != nil:
			sinks++
			st := s.Sink.Stats()
			o.ObserveFloat64(i.sendTime, st.SendTime.Seconds(), set)
			o.ObserveInt64(i.recordsOut, st.RecordsOut, set)
			o.ObserveInt64(i.bytesOut, st.BytesOut, set)
			o.ObserveInt64(i.recordsOutErrors, st.RecordsOutErrors, set)
			if s.Guarantee == ExactlyOnce {
				o.ObserveInt64(i.txnPrepared, st.TransactionsPrepared, set)
				o.ObserveInt64(i.txnCommitted, st.TransactionsCommitted, set)
				o.ObserveInt64(i.txnAborted, st.TransactionsAborted, set)
				o.ObserveInt64(i.txnRecovered, st.TransactionsRecovered, set)
			}
		}
	}
	o.ObserveInt64(i.open, sources, metric.WithAttributes(AttrKind.String("source")))
	o.ObserveInt64(i.open, sinks, metric.WithAttributes(AttrKind.String("sink")))
	if m.srv.Usage != nil {
		u := m.srv.Usage()
		o.ObserveInt64(i.memoryInUse, u.MemoryInUse)
		if u.MemoryBudget > 0 {
			o.ObserveInt64(i.memoryBudget, u.MemoryBudget)
		}
	}
	if m.srv.PendingStreams != nil {
		o.ObserveInt64(i.pendingStreams, int64(m.srv.PendingStreams()))
	}
	if m.srv.Connections != nil {
		o.ObserveInt64(i.connections, int64(m.srv.Connections()))
	}
	return nil
}

func (m *Metrics) observeSource(o metric.Observer, st sessions.SourceStats, attrs []attribute.KeyValue, set metric.ObserveOption) {
	i := &m.inst
	o.ObserveInt64(i.recordsIn, st.RecordsIn, set)
	o.ObserveInt64(i.bytesIn, st.BytesIn, set)
	o.ObserveInt64(i.commitsOK, st.CommitsSucceeded, set)
	o.ObserveInt64(i.commitsFailed, st.CommitsFailed, set)
	o.ObserveFloat64(i.idle, st.IdleTime.Seconds(), set)
	if st.EmitEventTimeLag != nil {
		o.ObserveFloat64(i.emitLag, st.EmitEventTimeLag.Seconds(), set)
	}
	if st.WatermarkLag != nil {
		o.ObserveFloat64(i.watermarkLag, st.WatermarkLag.Seconds(), set)
	}
	if st.PendingRecords != nil {
		o.ObserveInt64(i.pending, *st.PendingRecords, set)
	}
	// Per split: only the partitions the session owns, while it is open.
	// attribute.NewSet sorts the slice it is given and copies it.
	split := make([]attribute.KeyValue, 0, len(attrs)+2)
	for _, sp := range st.Splits {
		split = append(append(split[:0], attrs...), AttrTopic.String(sp.Topic), AttrPartition.String(strconv.Itoa(int(sp.Partition))))
		splitSet := metric.WithAttributeSet(attribute.NewSet(split...))
		o.ObserveInt64(i.current, sp.Current, splitSet)
		o.ObserveInt64(i.committed, sp.Committed, splitSet)
	}
}
