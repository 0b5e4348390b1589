package integration

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// TestSourceSpecValidation opens source sessions with one bad field each and
// checks the status names the field and the rule; then the server still
// serves a normal read.
func TestSourceSpecValidation(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 3)
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
		{"specific stop before specific start", func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic, Offset: 2})
			o.Spec.StoppingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic, Offset: 1})
		}, codes.InvalidArgument, []string{"open.spec.stopping_offsets", "stopping offset 1 of " + topic + "/0 is before its starting offset 2"}},
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
			o.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{broker(t)}, Name: "main"}
		}, codes.InvalidArgument, []string{"open.spec.cluster", "not both"}},
		{"bootstrap port out of range", func(o *ferryv1.OpenSource) {
			o.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{"127.0.0.1:70000"}}
		},
			codes.InvalidArgument, []string{"open.spec.cluster.bootstrap_servers[0]", "1..65535"}},
		{"no spec", func(o *ferryv1.OpenSource) { o.Spec = nil }, codes.InvalidArgument, []string{"open.spec", "is required"}},
		{"negative reader index", func(o *ferryv1.OpenSource) { o.ReaderIndex = -1 }, codes.InvalidArgument, []string{"open.reader_index", "must be in [0, parallelism=1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := bounded(topic)
			tc.mod(open)
			st := f.readStatus(t, openSource(open))
			if st.Code() != tc.code {
				t.Fatalf("status %v %q, want %v", st.Code(), st.Message(), tc.code)
			}
			for _, s := range tc.says {
				if !strings.Contains(st.Message(), s) {
					t.Errorf("message %q does not say %q", st.Message(), s)
				}
			}
		})
	}
	t.Run("out of order messages", func(t *testing.T) {
		unbounded := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: "g-" + topic}}
		complete := &ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_CheckpointComplete{CheckpointComplete: &ferryv1.CheckpointComplete{CheckpointId: 3}}}
		for _, msgs := range [][]*ferryv1.ReadRequest{
			{complete},                        // before open
			{openSource(unbounded), complete}, // a checkpoint never taken
		} {
			if st := f.readStatus(t, msgs...); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "checkpoint_complete") {
				t.Errorf("status %v %q, want FAILED_PRECONDITION naming checkpoint_complete", st.Code(), st.Message())
			}
		}
	})

	h, err := healthpb.NewHealthClient(f.conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after bad input: %v %v", h, err)
	}
	if res := f.readBounded(t, bounded(topic)); len(res.records) != 6 {
		t.Fatalf("a normal read after bad input got %d records, want 6", len(res.records))
	}
}
