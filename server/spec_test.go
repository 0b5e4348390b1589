package server

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// specServer is a server whose specs are converted but never opened: its
// cluster is never dialled.
func specServer(t *testing.T) *Server {
	t.Helper()
	return newSpecServer(t)
}

func newSpecServer(t testing.TB) *Server {
	t.Helper()
	s, err := New(Config{
		Clusters: map[string]connector.Cluster{"default": {BootstrapServers: []string{"127.0.0.1:9"}}, "main": {BootstrapServers: []string{"127.0.0.1:9"}}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkInvalid checks that err becomes code with a message that says each
// of says.
func checkStatus(t *testing.T, err error, code codes.Code, says []string) {
	t.Helper()
	st := status.Convert(toStatus(specField(err)))
	if err == nil || st.Code() != code {
		t.Fatalf("status %v %q, want %v", st.Code(), st.Message(), code)
	}
	for _, s := range says {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message %q does not say %q", st.Message(), s)
		}
	}
}

func i64(v int64) *int64 { return &v }

func i32(v int32) *int32 { return &v }

// TestSourceSpecRules opens nothing: each case breaks one rule of the source
// spec and checks the field and the rule in the status.
func TestSourceSpecRules(t *testing.T) {
	const topic = "orders"
	const baseTs = int64(1_700_000_000_000)
	s := specServer(t)
	ts := func(ms int64) *ferryv1.OffsetsInitializer {
		return &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_TimestampMs{TimestampMs: ms}}
	}
	specific := func(offs ...*ferryv1.PartitionOffset) *ferryv1.OffsetsInitializer {
		return &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Specific_{Specific: &ferryv1.OffsetsInitializer_Specific{Offsets: offs}}}
	}
	committed := &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Committed_{Committed: &ferryv1.OffsetsInitializer_Committed{}}}
	wms := func(kind ferryv1.WatermarkKind, delay int64, idle *int64) *ferryv1.WatermarkStrategy {
		return &ferryv1.WatermarkStrategy{Kind: kind, MaxOutOfOrdernessMs: delay, IdleTimeoutMs: idle}
	}
	const bounded_ = ferryv1.WatermarkKind_WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS
	for _, tc := range []struct {
		name string
		mod  func(o *ferryv1.OpenSource)
		code codes.Code
		says []string
	}{
		{"two subscriptions", func(o *ferryv1.OpenSource) { o.Spec.TopicPattern = "x.*" }, codes.InvalidArgument, []string{"open.spec.subscription", "topics and topic_pattern"}},
		{"three subscriptions", func(o *ferryv1.OpenSource) {
			o.Spec.TopicPattern = "x"
			o.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: topic}}}
		}, codes.InvalidArgument, []string{"open.spec.subscription", "topics and topic_pattern and partitions"}},
		{"bad regex", func(o *ferryv1.OpenSource) { o.Spec.Topics = nil; o.Spec.TopicPattern = "a[" }, codes.InvalidArgument, []string{"open.spec.topic_pattern", "RE2"}},
		{"empty topic name", func(o *ferryv1.OpenSource) { o.Spec.Topics.Topics = []string{topic, ""} }, codes.InvalidArgument, []string{"open.spec.topics.topics[1]", "must not be empty"}},
		{"duplicate topic", func(o *ferryv1.OpenSource) { o.Spec.Topics.Topics = []string{topic, topic} }, codes.InvalidArgument, []string{"open.spec.topics.topics[1]", "listed twice"}},
		{"empty partition set", func(o *ferryv1.OpenSource) { o.Spec.Topics = nil; o.Spec.Partitions = &ferryv1.PartitionSet{} }, codes.InvalidArgument, []string{"open.spec.partitions.partitions", "at least one partition"}},
		{"negative partition", func(o *ferryv1.OpenSource) {
			o.Spec.Topics = nil
			o.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: topic, Partition: -1}}}
		}, codes.InvalidArgument, []string{"open.spec.partitions.partitions[0].partition", ">= 0"}},
		{"negative specific offset", func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic, Offset: -5})
		}, codes.InvalidArgument, []string{"open.spec.starting_offsets.specific.offsets[0].offset", ">= 0"}},
		{"specific offset without topic", func(o *ferryv1.OpenSource) { o.Spec.StartingOffsets = specific(&ferryv1.PartitionOffset{Offset: 1}) },
			codes.InvalidArgument, []string{"open.spec.starting_offsets.specific.offsets[0].topic", "must not be empty"}},
		{"specific offset twice", func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic}, &ferryv1.PartitionOffset{Topic: topic, Offset: 1})
		}, codes.InvalidArgument, []string{"open.spec.starting_offsets.specific.offsets[1]", "listed twice"}},
		{"initializer without kind", func(o *ferryv1.OpenSource) { o.Spec.StartingOffsets = &ferryv1.OffsetsInitializer{} },
			codes.InvalidArgument, []string{"open.spec.starting_offsets", "set one of earliest, latest, committed, timestamp_ms, specific"}},
		{"unknown reset strategy", func(o *ferryv1.OpenSource) {
			o.Spec.GroupId = "g"
			o.Spec.StartingOffsets = &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Committed_{Committed: &ferryv1.OffsetsInitializer_Committed{ResetStrategy: 42}}}
		}, codes.InvalidArgument, []string{"open.spec.starting_offsets.committed.reset_strategy", "unknown value 42"}},
		{"negative timestamp", func(o *ferryv1.OpenSource) { o.Spec.StartingOffsets = ts(-1) }, codes.InvalidArgument, []string{"open.spec.starting_offsets.timestamp_ms", "must be in 0.."}},
		{"timestamp past year 9999", func(o *ferryv1.OpenSource) { o.Spec.StoppingOffsets = ts(1 << 62) }, codes.InvalidArgument, []string{"open.spec.stopping_offsets.timestamp_ms", "before year 10000"}},
		{"stop timestamp before start timestamp", func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = ts(baseTs + 5000)
			o.Spec.StoppingOffsets = ts(baseTs)
		},
			codes.InvalidArgument, []string{"open.spec.stopping_offsets.timestamp_ms", "before the starting timestamp"}},
		{"unknown boundedness", func(o *ferryv1.OpenSource) { o.Spec.Boundedness = 7 }, codes.InvalidArgument, []string{"open.spec.boundedness", "unknown value 7"}},
		{"committed offsets without group", func(o *ferryv1.OpenSource) { o.Spec.StoppingOffsets = committed }, codes.InvalidArgument, []string{"open.spec.group_id", "required with committed"}},
		{"group.id property differs from group_id", func(o *ferryv1.OpenSource) {
			o.Spec.GroupId = "a"
			o.Spec.Properties = map[string]string{"group.id": "b"}
		}, codes.InvalidArgument, []string{`open.spec.properties["group.id"]`, "differs from open.spec.group_id"}},
		{"negative watermark delay", func(o *ferryv1.OpenSource) { o.Spec.WatermarkStrategy = wms(bounded_, -1, nil) },
			codes.InvalidArgument, []string{"open.spec.watermark_strategy.max_out_of_orderness_ms", ">= 0"}},
		{"zero idle timeout", func(o *ferryv1.OpenSource) { o.Spec.WatermarkStrategy = wms(bounded_, 0, i64(0)) },
			codes.InvalidArgument, []string{"open.spec.watermark_strategy.idle_timeout_ms", "must be > 0"}},
		{"negative idle timeout", func(o *ferryv1.OpenSource) {
			o.Spec.WatermarkStrategy = wms(ferryv1.WatermarkKind_WATERMARK_KIND_MONOTONOUS, 0, i64(-10))
		}, codes.InvalidArgument, []string{"open.spec.watermark_strategy.idle_timeout_ms", "must be > 0"}},
		{"delay without watermark kind", func(o *ferryv1.OpenSource) { o.Spec.WatermarkStrategy = wms(0, 100, nil) },
			codes.InvalidArgument, []string{"open.spec.watermark_strategy.kind", "must be set"}},
		{"delay with monotonous watermarks", func(o *ferryv1.OpenSource) {
			o.Spec.WatermarkStrategy = wms(ferryv1.WatermarkKind_WATERMARK_KIND_MONOTONOUS, 100, nil)
		}, codes.InvalidArgument, []string{"open.spec.watermark_strategy.max_out_of_orderness_ms", "applies only to"}},
		{"unknown watermark kind", func(o *ferryv1.OpenSource) { o.Spec.WatermarkStrategy = wms(9, 0, nil) },
			codes.InvalidArgument, []string{"open.spec.watermark_strategy.kind", "unknown value 9"}},
		{"restore with negative next offset", func(o *ferryv1.OpenSource) {
			o.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: topic, NextOffset: -1}}}
		}, codes.InvalidArgument, []string{"open.restore.splits[0].next_offset", ">= 0"}},
		{"restore with stop before next", func(o *ferryv1.OpenSource) {
			o.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: topic, NextOffset: 3, StoppingOffset: i64(2)}}}
		}, codes.InvalidArgument, []string{"open.restore.splits[0].stopping_offset", "must be >= next_offset 3"}},
		{"restore with a split twice", func(o *ferryv1.OpenSource) {
			o.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: topic}, {Topic: topic}}}
		}, codes.InvalidArgument, []string{"open.restore.splits[1]", "listed twice"}},
		{"bad property value", func(o *ferryv1.OpenSource) { o.Spec.Properties = map[string]string{"isolation.level": "dirty"} },
			codes.InvalidArgument, []string{`open.spec.properties["isolation.level"]`, "read_uncommitted or read_committed"}},
		{"prefetch budget too small", func(o *ferryv1.OpenSource) { o.Spec.Properties = map[string]string{"prefetch.max.bytes": "10"} },
			codes.InvalidArgument, []string{`open.spec.properties["prefetch.max.bytes"]`, ">= 65536"}},
		{"discovery interval not a number", func(o *ferryv1.OpenSource) {
			o.Spec.Properties = map[string]string{"partition.discovery.interval.ms": "soon"}
		},
			codes.InvalidArgument, []string{`open.spec.properties["partition.discovery.interval.ms"]`, "milliseconds"}},
		{"cluster with servers and name", func(o *ferryv1.OpenSource) {
			o.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{"127.0.0.1:9092"}, Name: "main"}
		}, codes.InvalidArgument, []string{"open.spec.cluster", "not both"}},
		{"bootstrap port out of range", func(o *ferryv1.OpenSource) {
			o.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{"127.0.0.1:70000"}}
		},
			codes.InvalidArgument, []string{"open.spec.cluster.bootstrap_servers[0]", "1..65535"}},
		{"no spec", func(o *ferryv1.OpenSource) { o.Spec = nil }, codes.InvalidArgument, []string{"open.spec", "is required"}},
		{"negative reader index", func(o *ferryv1.OpenSource) { o.ReaderIndex = -1 }, codes.InvalidArgument, []string{"open.reader_index", "must be in [0, parallelism=1)"}},

		{"empty topic list", func(o *ferryv1.OpenSource) { o.Spec.Topics = &ferryv1.TopicList{} }, codes.InvalidArgument, []string{"open.spec.topics.topics", "at least one topic"}},
		{"no subscription", func(o *ferryv1.OpenSource) { o.Spec.Topics = nil }, codes.InvalidArgument, []string{"open.spec.subscription", "none is set"}},
		{"partition without topic", func(o *ferryv1.OpenSource) {
			o.Spec.Topics = nil
			o.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Partition: 1}}}
		}, codes.InvalidArgument, []string{"open.spec.partitions.partitions[0].topic", "must not be empty"}},
		{"partition twice", func(o *ferryv1.OpenSource) {
			o.Spec.Topics = nil
			o.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: topic, Partition: 1}, {Topic: topic, Partition: 1}}}
		}, codes.InvalidArgument, []string{"open.spec.partitions.partitions[1]", topic + "/1 is listed twice"}},
		{"specific offset with negative partition", func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic, Partition: -2})
		}, codes.InvalidArgument, []string{"open.spec.starting_offsets.specific.offsets[0].partition", ">= 0, got -2"}},
		{"restore without topic", func(o *ferryv1.OpenSource) {
			o.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Partition: 0}}}
		}, codes.InvalidArgument, []string{"open.restore.splits[0].topic", "must not be empty"}},
		{"unknown cluster name", func(o *ferryv1.OpenSource) { o.Spec.Cluster = &ferryv1.Cluster{Name: "nope"} },
			codes.NotFound, []string{"open.spec.cluster.name", `cluster "nope"`, "configured: default, main"}},
		{"parallelism 0", func(o *ferryv1.OpenSource) { o.Parallelism = i32(0) }, codes.InvalidArgument, []string{"open.parallelism", "must be in 1..32768"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED}}
			tc.mod(open)
			_, _, err := s.sourceSpec(open, "")
			checkStatus(t, err, tc.code, tc.says)
		})
	}
}

// TestSinkSpecRules is TestSourceSpecRules for the sink spec, the records of
// a batch and the consumed offsets a batch may carry.
func TestSinkSpecRules(t *testing.T) {
	s := specServer(t)
	const eo = ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE
	txn := func(id string, pid int64, epoch int32) *ferryv1.SinkState {
		return &ferryv1.SinkState{Transactions: []*ferryv1.PreparedTransaction{{TransactionalId: id, ProducerId: pid, ProducerEpoch: epoch}}}
	}
	for _, tc := range []struct {
		name string
		open *ferryv1.OpenSink
		says []string
	}{
		{"no spec", &ferryv1.OpenSink{}, []string{"open.spec", "is required"}},
		{"writer index out of range", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{}, WriterIndex: 3, Parallelism: i32(3)}, []string{"open.writer_index", "[0, parallelism=3)"}},
		{"exactly-once without prefix", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: eo}}, []string{"open.spec.transactional_id_prefix", "required"}},
		{"prefix with white space", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: eo, TransactionalIdPrefix: "a b"}}, []string{"open.spec.transactional_id_prefix", "white space"}},
		{"unknown guarantee", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: 9}}, []string{"open.spec.delivery_guarantee", "unknown value 9"}},
		{"unknown partitioner", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Partitioner: 9}}, []string{"open.spec.partitioner", "unknown value 9"}},
		{"consumer property", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Properties: map[string]string{"isolation.level": "read_committed"}}}, []string{`open.spec.properties["isolation.level"]`, "not a producer one"}},
		{"restore without exactly-once", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{}, Restore: txn("p-0-0", 1, 0)}, []string{"open.restore.transactions", "only EXACTLY_ONCE"}},
		{"restore of another writer", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: eo, TransactionalIdPrefix: "p"}, Restore: txn("p-1-0", 1, 0)},
			[]string{"open.restore.transactions[0].transactional_id", `prefix "p" and writer 0`}},
		{"restore with negative producer id", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: eo, TransactionalIdPrefix: "p"}, Restore: txn("p-0-0", -1, 0)},
			[]string{"open.restore.transactions[0].producer_id", ">= 0"}},
		{"restore with epoch out of range", &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: eo, TransactionalIdPrefix: "p"}, Restore: txn("p-0-0", 1, 40000)},
			[]string{"open.restore.transactions[0].producer_epoch", "0..32767"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.sinkSpec(tc.open, "")
			checkStatus(t, err, codes.InvalidArgument, tc.says)
		})
	}

	rec := func(mod func(*ferryv1.SinkRecord)) *ferryv1.WriteBatch {
		r := &ferryv1.SinkRecord{Topic: "t", Value: []byte("v")}
		mod(r)
		return &ferryv1.WriteBatch{Sequence: 7, Records: []*ferryv1.SinkRecord{{Topic: "t"}, r}}
	}
	for _, tc := range []struct {
		name         string
		batch        *ferryv1.WriteBatch
		defaultTopic string
		says         []string
	}{
		{"no topic and no default", rec(func(r *ferryv1.SinkRecord) { r.Topic = "" }), "", []string{"records.records[1] (batch sequence 7).topic", "no default_topic"}},
		{"negative partition", rec(func(r *ferryv1.SinkRecord) { r.Partition = i32(-1) }), "", []string{"records.records[1] (batch sequence 7).partition", ">= 0"}},
		{"negative timestamp", rec(func(r *ferryv1.SinkRecord) { r.TimestampMs = i64(-1) }), "", []string{"records.records[1] (batch sequence 7).timestamp_ms", ">= 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sinkRecords(tc.batch, tc.defaultTopic)
			checkStatus(t, err, codes.InvalidArgument, tc.says)
		})
	}
	if recs, err := sinkRecords(rec(func(r *ferryv1.SinkRecord) { r.Topic = "" }), "fallback"); err != nil || len(recs) != 2 || recs[1].Topic != "" {
		t.Errorf("a record without topic under a default topic: %v %v (the writer applies the default)", recs, err)
	}

	offsets := func(group string, offs ...*ferryv1.PartitionOffset) *ferryv1.WriteBatch {
		return &ferryv1.WriteBatch{Sequence: 2, ConsumedOffsets: &ferryv1.ConsumedOffsets{GroupId: group, Offsets: offs}}
	}
	for _, tc := range []struct {
		name  string
		batch *ferryv1.WriteBatch
		g     ferryv1.DeliveryGuarantee
		says  []string
	}{
		{"not exactly-once", offsets("g", &ferryv1.PartitionOffset{Topic: "t"}), ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE, []string{"records.consumed_offsets (batch sequence 2)", "needs DELIVERY_GUARANTEE_EXACTLY_ONCE"}},
		{"no group", offsets("", &ferryv1.PartitionOffset{Topic: "t"}), eo, []string{"consumed_offsets (batch sequence 2).group_id", "is required"}},
		{"no offsets", offsets("g"), eo, []string{"consumed_offsets (batch sequence 2).offsets", "at least one partition"}},
		{"no topic", offsets("g", &ferryv1.PartitionOffset{Offset: 1}), eo, []string{"offsets[0].topic", "must not be empty"}},
		{"negative partition", offsets("g", &ferryv1.PartitionOffset{Topic: "t", Partition: -1}), eo, []string{"offsets[0].partition", ">= 0"}},
		{"negative offset", offsets("g", &ferryv1.PartitionOffset{Topic: "t", Offset: -1}), eo, []string{"offsets[0].offset", ">= 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := guaranteeSpec(tc.g, "p")
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = consumedOffsetsSpec(tc.batch, g)
			checkStatus(t, err, codes.InvalidArgument, tc.says)
		})
	}
}
