package integration

import (
	"context"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// rawCodec sends and receives bytes as they are, so that a test can put
// anything on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// rawStatus sends msgs as raw bytes on a stream of method and returns the
// status the stream ends with.
func (f *ferry) rawStatus(t *testing.T, method string, msgs ...[]byte) *status.Status {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	stream, err := f.conn.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		m := m
		if err := stream.SendMsg(&m); err != nil {
			break
		}
	}
	for {
		var out []byte
		if err := stream.RecvMsg(&out); err != nil {
			return status.Convert(err)
		}
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInputTable sends one bad message per case through the API and
// checks the status code and that the message names the field and the rule:
// the nonsense a load tester and an attacker sent ferry, each refused, none
// ending in UNKNOWN or INTERNAL, and the server healthy afterwards.
func TestBadInputTable(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	long := strings.Repeat("x", 1<<20)
	src := func(mod func(o *ferryv1.OpenSource)) []*ferryv1.ReadRequest {
		o := bounded(topic)
		mod(o)
		return []*ferryv1.ReadRequest{openSource(o)}
	}
	unbounded := func() *ferryv1.OpenSource {
		return &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}}}
	}
	ckpt := func(id int64) *ferryv1.ReadRequest {
		return &ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}
	}
	complete := func(id int64) *ferryv1.ReadRequest {
		return &ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_CheckpointComplete{CheckpointComplete: &ferryv1.CheckpointComplete{CheckpointId: id}}}
	}
	snk := func(mod func(s *ferryv1.SinkSpec), more ...*ferryv1.WriteRequest) []*ferryv1.WriteRequest {
		s := &ferryv1.SinkSpec{DefaultTopic: topic}
		mod(s)
		return append([]*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: s})}, more...)
	}
	eo := func(s *ferryv1.SinkSpec) {
		s.DeliveryGuarantee = ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE
		s.TransactionalIdPrefix = "bad-input"
	}
	none := func(*ferryv1.SinkSpec) {}
	batch := func(seq int64, recs ...*ferryv1.SinkRecord) *ferryv1.WriteRequest {
		if len(recs) == 0 {
			recs = []*ferryv1.SinkRecord{{Value: []byte("v")}}
		}
		return &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: seq, Records: recs}}}
	}
	wckpt := func(id int64) *ferryv1.WriteRequest {
		return &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}
	}
	commit := func(id int64) *ferryv1.WriteRequest {
		return &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Commit{Commit: &ferryv1.CommitCheckpoint{CheckpointId: id}}}
	}
	consumed := func(group string, offs ...*ferryv1.PartitionOffset) *ferryv1.WriteRequest {
		b := batch(1)
		b.GetRecords().ConsumedOffsets = &ferryv1.ConsumedOffsets{GroupId: group, Offsets: offs}
		return b
	}
	props := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	restore := func(splits ...*ferryv1.SplitState) func(o *ferryv1.OpenSource) {
		return func(o *ferryv1.OpenSource) { o.Restore = &ferryv1.SourceState{Splits: splits} }
	}
	// A string field (topic) holding invalid UTF-8, by hand: proto.Marshal
	// refuses to build it.
	badUTF8 := protowire.AppendTag(nil, 1, protowire.BytesType) // ReadRequest.open
	open := protowire.AppendTag(nil, 1, protowire.BytesType)    // OpenSource.spec
	spec := protowire.AppendTag(nil, 1, protowire.BytesType)    // SourceSpec.topics (TopicList)
	list := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff, 0xfe, 'x'})
	spec = protowire.AppendBytes(spec, list)
	open = protowire.AppendBytes(open, spec)
	badUTF8 = protowire.AppendBytes(badUTF8, open)

	for _, tc := range []struct {
		name   string
		source []*ferryv1.ReadRequest
		sink   []*ferryv1.WriteRequest
		raw    [][]byte // sent to Read as they are
		rawW   [][]byte // sent to Write as they are
		code   codes.Code
		says   []string
	}{
		// The wire.
		{name: "undecodable bytes to Read", raw: [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}}, code: codes.InvalidArgument, says: []string{"do not decode"}},
		{name: "undecodable bytes to Write", rawW: [][]byte{{0x0a, 0x80}}, code: codes.InvalidArgument, says: []string{"do not decode"}},
		{name: "truncated message", raw: [][]byte{marshal(t, openSource(bounded(topic)))[:7]}, code: codes.InvalidArgument, says: []string{"do not decode"}},
		{name: "invalid UTF-8 in a topic", raw: [][]byte{badUTF8}, code: codes.InvalidArgument, says: []string{"do not decode", "UTF-8"}},
		{name: "empty message to Read", raw: [][]byte{{}}, code: codes.FailedPrecondition, says: []string{"without kind before open"}},
		// Topic names, by Kafka's rules.
		{name: "topic with a path", source: src(func(o *ferryv1.OpenSource) { o.Spec.Topics.Topics = []string{"../etc passwd"} }), code: codes.InvalidArgument, says: []string{"open.spec.topics.topics[0]", "character Kafka does not allow"}},
		{name: "topic of 300 characters", source: src(func(o *ferryv1.OpenSource) { o.Spec.Topics.Topics = []string{strings.Repeat("t", 300)} }), code: codes.InvalidArgument, says: []string{"open.spec.topics.topics[0]", "at most 249"}},
		{name: "topic with ! and /", source: src(func(o *ferryv1.OpenSource) { o.Spec.Topics.Topics = []string{"bad topic!/.."} }), code: codes.InvalidArgument, says: []string{"character Kafka does not allow"}},
		{name: "topic ..", source: src(func(o *ferryv1.OpenSource) { o.Spec.Topics.Topics = []string{".."} }), code: codes.InvalidArgument, says: []string{"not a legal topic name"}},
		{name: "partition set with a bad topic", source: src(func(o *ferryv1.OpenSource) {
			o.Spec.Topics = nil
			o.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: "a b"}}}
		}), code: codes.InvalidArgument, says: []string{"open.spec.partitions.partitions[0].topic"}},
		{name: "sink default topic with a slash", sink: snk(func(s *ferryv1.SinkSpec) { s.DefaultTopic = "a/b" }), code: codes.InvalidArgument, says: []string{"open.spec.default_topic"}},
		{name: "record topic too long", sink: snk(none, batch(1, &ferryv1.SinkRecord{Topic: strings.Repeat("r", 250)})), code: codes.InvalidArgument, says: []string{"records.records[0] (batch sequence 1).topic", "at most 249"}},
		{name: "sink topic that does not exist", sink: snk(func(s *ferryv1.SinkSpec) { s.DefaultTopic = "no-such-topic-" + topic }, batch(1), &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}), code: codes.NotFound, says: []string{"no-such-topic-"}},
		{name: "sink partition that does not exist", sink: snk(none, batch(1, &ferryv1.SinkRecord{Partition: i32(9999), Value: []byte("v")}), &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}),
			code: codes.NotFound, says: []string{`partition "` + topic + `/9999"`}},
		// Checkpoint ids and sequences.
		{name: "checkpoint id -5", source: []*ferryv1.ReadRequest{openSource(unbounded()), ckpt(-5)}, code: codes.InvalidArgument, says: []string{"checkpoint.checkpoint_id", "must be > 0, got -5"}},
		{name: "checkpoint id INT64_MIN", source: []*ferryv1.ReadRequest{openSource(unbounded()), ckpt(math.MinInt64)}, code: codes.InvalidArgument, says: []string{"checkpoint.checkpoint_id", "must be > 0"}},
		{name: "checkpoint id 0", source: []*ferryv1.ReadRequest{openSource(unbounded()), ckpt(0)}, code: codes.InvalidArgument, says: []string{"must be > 0, got 0"}},
		{name: "checkpoint ids decreasing", source: []*ferryv1.ReadRequest{openSource(unbounded()), ckpt(5), ckpt(3)}, code: codes.FailedPrecondition, says: []string{"must increase: got 3 after 5"}},
		{name: "complete id -1", source: []*ferryv1.ReadRequest{openSource(unbounded()), complete(-1)}, code: codes.InvalidArgument, says: []string{"checkpoint_complete.checkpoint_id"}},
		{name: "complete a checkpoint never taken", source: []*ferryv1.ReadRequest{openSource(unbounded()), complete(4)}, code: codes.FailedPrecondition, says: []string{"never taken"}},
		{name: "sink sequences 5 then 3", sink: snk(none, batch(5), batch(3)), code: codes.FailedPrecondition, says: []string{"batch sequences must increase: got 3 after 5"}},
		{name: "sink sequence -1", sink: snk(none, batch(-1)), code: codes.InvalidArgument, says: []string{"records.sequence", "must be > 0, got -1"}},
		{name: "sink sequence 0", sink: snk(none, batch(0)), code: codes.InvalidArgument, says: []string{"records.sequence"}},
		{name: "sink sequence repeated", sink: snk(none, batch(2), batch(2)), code: codes.FailedPrecondition, says: []string{"got 2 after 2"}},
		{name: "sink checkpoint id -5", sink: snk(none, wckpt(-5)), code: codes.InvalidArgument, says: []string{"checkpoint.checkpoint_id"}},
		{name: "sink checkpoint ids decreasing", sink: snk(none, wckpt(7), wckpt(6)), code: codes.FailedPrecondition, says: []string{"got 6 after 7"}},
		{name: "sink commit id 0", sink: snk(eo, commit(0)), code: codes.InvalidArgument, says: []string{"commit.checkpoint_id"}},
		{name: "sink commit never taken", sink: snk(eo, commit(3)), code: codes.FailedPrecondition, says: []string{"never taken"}},
		{name: "sink commit without transactions", sink: snk(none, wckpt(1), commit(1)), code: codes.FailedPrecondition, says: []string{"commit", "EXACTLY_ONCE"}},
		// Parallelism and indexes.
		{name: "parallelism 1e9", source: src(func(o *ferryv1.OpenSource) { o.Parallelism = i32(1_000_000_000) }), code: codes.InvalidArgument, says: []string{"open.parallelism", "1..32768"}},
		{name: "parallelism -1", source: src(func(o *ferryv1.OpenSource) { o.Parallelism = i32(-1) }), code: codes.InvalidArgument, says: []string{"open.parallelism"}},
		{name: "reader index = parallelism", source: src(func(o *ferryv1.OpenSource) { o.Parallelism, o.ReaderIndex = i32(3), 3 }), code: codes.InvalidArgument, says: []string{"open.reader_index"}},
		{name: "writer parallelism 40000", sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic}, Parallelism: i32(40000)})}, code: codes.InvalidArgument, says: []string{"open.parallelism"}},
		{name: "writer index -1", sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic}, WriterIndex: -1})}, code: codes.InvalidArgument, says: []string{"open.writer_index"}},
		// Restore states.
		{name: "restore of an unknown topic", source: src(restore(&ferryv1.SplitState{Topic: "other-" + topic, NextOffset: 1})), code: codes.InvalidArgument, says: []string{"open.restore.splits[0]", "not part of this source's subscription"}},
		{name: "restore of partition 9999", source: src(restore(&ferryv1.SplitState{Topic: topic, Partition: 9999})), code: codes.NotFound, says: []string{topic + "/9999"}},
		{name: "restore with a negative offset", source: src(restore(&ferryv1.SplitState{Topic: topic, NextOffset: -3})), code: codes.InvalidArgument, says: []string{"open.restore.splits[0].next_offset"}},
		{name: "restore with a bad topic name", source: src(restore(&ferryv1.SplitState{Topic: "a b"})), code: codes.InvalidArgument, says: []string{"open.restore.splits[0].topic"}},
		{name: "restore outside a partition set", source: src(func(o *ferryv1.OpenSource) {
			o.Spec.Topics = nil
			o.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: topic, Partition: 0}}}
			o.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: topic, Partition: 1}}}
		}), code: codes.InvalidArgument, says: []string{"not part of this source's subscription"}},
		{name: "sink restore of another writer", sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic,
			DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: "p"},
			Restore: &ferryv1.SinkState{Transactions: []*ferryv1.PreparedTransaction{{TransactionalId: "q-0-0"}}}})}, code: codes.InvalidArgument, says: []string{"open.restore.transactions[0].transactional_id"}},
		// Lengths and characters.
		{name: "1 MiB group id", source: src(func(o *ferryv1.OpenSource) { o.Spec.GroupId = long }), code: codes.InvalidArgument, says: []string{"open.spec.group_id", "at most 255"}},
		{name: "group id with a newline", source: src(func(o *ferryv1.OpenSource) { o.Spec.GroupId = "g\nforged log line" }), code: codes.InvalidArgument, says: []string{"open.spec.group_id", "control characters"}},
		{name: "group.id property of 1 MiB", source: src(func(o *ferryv1.OpenSource) { o.Spec.Properties = props("group.id", long) }), code: codes.InvalidArgument, says: []string{`open.spec.properties["group.id"]`}},
		{name: "client.id with a newline", source: src(func(o *ferryv1.OpenSource) { o.Spec.Properties = props("client.id", "a\nb") }), code: codes.InvalidArgument, says: []string{`open.spec.properties["client.id"]`, "control characters"}},
		{name: "client.id with NUL", sink: snk(func(s *ferryv1.SinkSpec) { s.Properties = props("client.id", "a\x00b") }), code: codes.InvalidArgument, says: []string{`open.spec.properties["client.id"]`, "control characters"}},
		{name: "client.id.prefix of 1 MiB", source: src(func(o *ferryv1.OpenSource) { o.Spec.Properties = props("client.id.prefix", long) }), code: codes.InvalidArgument, says: []string{`open.spec.properties["client.id.prefix"]`, "at most 255"}},
		{name: "1 MiB regex", source: src(func(o *ferryv1.OpenSource) { o.Spec.Topics = nil; o.Spec.TopicPattern = long }), code: codes.InvalidArgument, says: []string{"open.spec.topic_pattern", "at most 1024"}},
		{name: "64 KiB transactional prefix", sink: snk(func(s *ferryv1.SinkSpec) { eo(s); s.TransactionalIdPrefix = strings.Repeat("p", 64<<10) }), code: codes.InvalidArgument, says: []string{"open.spec.transactional_id_prefix", "at most 255"}},
		{name: "transactional prefix with a tab", sink: snk(func(s *ferryv1.SinkSpec) { eo(s); s.TransactionalIdPrefix = "a\tb" }), code: codes.InvalidArgument, says: []string{"open.spec.transactional_id_prefix"}},
		{name: "2000 headers", sink: snk(none, batch(1, &ferryv1.SinkRecord{Value: []byte("v"), Headers: make([]*ferryv1.Header, 2000)})), code: codes.InvalidArgument, says: []string{"headers", "at most 1024"}},
		{name: "header key of 2 KiB", sink: snk(none, batch(1, &ferryv1.SinkRecord{Value: []byte("v"), Headers: []*ferryv1.Header{{Key: strings.Repeat("k", 2048)}}})), code: codes.InvalidArgument, says: []string{"headers[0].key", "at most 1024"}},
		{name: "consumed offsets with a 1 MiB group", sink: snk(eo, consumed(long, &ferryv1.PartitionOffset{Topic: topic})), code: codes.InvalidArgument, says: []string{"consumed_offsets", "group_id", "at most 255"}},
		{name: "consumed offsets with a bad topic", sink: snk(eo, consumed("g", &ferryv1.PartitionOffset{Topic: "../x"})), code: codes.InvalidArgument, says: []string{"consumed_offsets", "offsets[0].topic"}},
		{name: "consumed offsets without exactly-once", sink: snk(none, consumed("g", &ferryv1.PartitionOffset{Topic: topic})), code: codes.InvalidArgument, says: []string{"needs DELIVERY_GUARANTEE_EXACTLY_ONCE"}},
		// Properties.
		{name: "transaction.timeout.ms 1e12", sink: snk(func(s *ferryv1.SinkSpec) { eo(s); s.Properties = props("transaction.timeout.ms", "1000000000000") }), code: codes.InvalidArgument, says: []string{`open.spec.properties["transaction.timeout.ms"]`, "1..2147483647"}},
		{name: "linger.ms overflowing", sink: snk(func(s *ferryv1.SinkSpec) { s.Properties = props("linger.ms", "9223372036854775807") }), code: codes.InvalidArgument, says: []string{`open.spec.properties["linger.ms"]`, "0..2147483647"}},
		{name: "negative fetch.max.bytes", source: src(func(o *ferryv1.OpenSource) { o.Spec.Properties = props("fetch.max.bytes", "-1") }), code: codes.InvalidArgument, says: []string{`open.spec.properties["fetch.max.bytes"]`}},
		{name: "unknown property", sink: snk(func(s *ferryv1.SinkSpec) { s.Properties = props("bootstrap.servers", "evil:9092") }), code: codes.InvalidArgument, says: []string{`open.spec.properties["bootstrap.servers"]`, "unknown producer property"}},
		{name: "truststore /dev/zero", source: src(func(o *ferryv1.OpenSource) {
			o.Spec.Properties = props("security.protocol", "SSL", "ssl.truststore.location", "/dev/zero")
		}), code: codes.InvalidArgument, says: []string{"not under a directory the ferry operator allows"}},
		{name: "bootstrap server not allowed", source: src(func(o *ferryv1.OpenSource) {
			o.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{"127.0.0.1:1"}}
		}), code: codes.PermissionDenied, says: []string{"connect to", "127.0.0.1:1"}},
		// Order and kinds.
		{name: "sink records before open", sink: []*ferryv1.WriteRequest{batch(1)}, code: codes.FailedPrecondition, says: []string{"records before open"}},
		{name: "sink message without kind", sink: snk(none, &ferryv1.WriteRequest{}), code: codes.InvalidArgument, says: []string{"kind"}},
		{name: "source message without kind", source: []*ferryv1.ReadRequest{openSource(unbounded()), {}}, code: codes.InvalidArgument, says: []string{"kind"}},
		{name: "unknown delivery guarantee", sink: snk(func(s *ferryv1.SinkSpec) { s.DeliveryGuarantee = 99 }), code: codes.InvalidArgument, says: []string{"open.spec.delivery_guarantee"}},
		{name: "unknown offsets reset", source: src(func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Specific_{Specific: &ferryv1.OffsetsInitializer_Specific{ResetStrategy: 77}}}
		}), code: codes.InvalidArgument, says: []string{"reset_strategy", "unknown value 77"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st *status.Status
			switch {
			case tc.raw != nil:
				st = f.rawStatus(t, "/ferry.v1.SourceService/Read", tc.raw...)
			case tc.rawW != nil:
				st = f.rawStatus(t, "/ferry.v1.SinkService/Write", tc.rawW...)
			case tc.source != nil:
				st = f.readStatus(t, tc.source...)
			default:
				st = f.writeStatus(t, tc.sink...)
			}
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
	h, err := healthpb.NewHealthClient(f.conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after bad input: %v %v", h, err)
	}
}
