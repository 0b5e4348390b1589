package integration

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// readStatus sends msgs on a source stream and returns the status the stream
// ends with, skipping whatever data the server sends first.
func (f *ferry) readStatus(t *testing.T, msgs ...*ferryv1.ReadRequest) *status.Status {
	t.Helper()
	stream, err := f.source.Read(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			break // the server already ended the stream; Recv tells why
		}
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return status.Convert(err)
		}
	}
}

func (f *ferry) writeStatus(t *testing.T, msgs ...*ferryv1.WriteRequest) *status.Status {
	t.Helper()
	stream, err := f.sink.Write(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			break
		}
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return status.Convert(err)
		}
	}
}

func openSource(o *ferryv1.OpenSource) *ferryv1.ReadRequest {
	return &ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: o}}
}

func openSink(o *ferryv1.OpenSink) *ferryv1.WriteRequest {
	return &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Open{Open: o}}
}

func TestBadInputGetsClearStatusAndServerStaysHealthy(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	topics := &ferryv1.TopicList{Topics: []string{topic}}
	spec := func(mod func(*ferryv1.SourceSpec)) *ferryv1.SourceSpec {
		s := &ferryv1.SourceSpec{Topics: topics, Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED}
		mod(s)
		return s
	}
	records := &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1,
		Records: []*ferryv1.SinkRecord{{Value: []byte("v")}}}}}
	checkpoint := func(id int64) *ferryv1.ReadRequest {
		return &ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}
	}
	unbounded := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: topics}}

	for _, tc := range []struct {
		name   string
		source []*ferryv1.ReadRequest
		sink   []*ferryv1.WriteRequest
		code   codes.Code
		says   []string // the field or message, and the rule
	}{
		{name: "source without subscription",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) { s.Topics = nil })})},
			code:   codes.InvalidArgument, says: []string{"open.spec.subscription", "exactly one of topics, topic_pattern and partitions is required"}},
		{name: "source with an empty topic list",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) { s.Topics = &ferryv1.TopicList{} })})},
			code:   codes.InvalidArgument, says: []string{"open.spec.topics.topics", "at least one topic"}},
		{name: "source with two kinds of subscription",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) { s.TopicPattern = "orders-.*" })})},
			code:   codes.InvalidArgument, says: []string{"open.spec.subscription", "topics and topic_pattern"}},
		{name: "empty bootstrap list",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) { s.Cluster = &ferryv1.Cluster{} })})},
			code:   codes.InvalidArgument, says: []string{"open.spec.cluster.bootstrap_servers", "at least one host:port"}},
		{name: "bootstrap server without port",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) {
				s.Cluster = &ferryv1.Cluster{BootstrapServers: []string{"localhost"}}
			})})},
			code: codes.InvalidArgument, says: []string{"open.spec.cluster.bootstrap_servers[0]", "not host:port"}},
		{name: "unknown cluster name",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) { s.Cluster = &ferryv1.Cluster{Name: "nope"} })})},
			code:   codes.NotFound, says: []string{"open.spec.cluster.name", `cluster "nope"`}},
		{name: "parallelism 0",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(*ferryv1.SourceSpec) {}), Parallelism: i32(0)})},
			code:   codes.InvalidArgument, says: []string{"open.parallelism", "must be in 1..32768"}},
		{name: "index >= parallelism",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(*ferryv1.SourceSpec) {}), ReaderIndex: 2, Parallelism: i32(2)})},
			code:   codes.InvalidArgument, says: []string{"open.reader_index", "must be in [0, parallelism=2)"}},
		{name: "unknown property key",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) {
				s.Properties = map[string]string{"fetch.max.bytes": "1048576", "no.such.key": "1"}
			})})},
			code: codes.InvalidArgument, says: []string{`open.spec.properties["no.such.key"]`, "unknown consumer property"}},
		{name: "producer property on a source",
			source: []*ferryv1.ReadRequest{openSource(&ferryv1.OpenSource{Spec: spec(func(s *ferryv1.SourceSpec) { s.Properties = map[string]string{"acks": "all"} })})},
			code:   codes.InvalidArgument, says: []string{`open.spec.properties["acks"]`, "not a consumer one"}},
		{name: "topic that does not exist in a bounded read",
			source: []*ferryv1.ReadRequest{openSource(bounded(topic, "no-such-topic-"+topic))},
			code:   codes.NotFound, says: []string{`topic "no-such-topic-`, "does not exist"}},
		{name: "source checkpoint before open",
			source: []*ferryv1.ReadRequest{checkpoint(1)},
			code:   codes.FailedPrecondition, says: []string{"checkpoint before open"}},
		{name: "second open on a source stream",
			source: []*ferryv1.ReadRequest{openSource(unbounded), openSource(unbounded)},
			code:   codes.FailedPrecondition, says: []string{"open", "already open"}},
		{name: "checkpoint ids not increasing",
			source: []*ferryv1.ReadRequest{openSource(unbounded), checkpoint(5), checkpoint(5)},
			code:   codes.FailedPrecondition, says: []string{"checkpoint", "must increase: got 5 after 5"}},
		{name: "sink records before open",
			sink: []*ferryv1.WriteRequest{records},
			code: codes.FailedPrecondition, says: []string{"records before open"}},
		{name: "second open on a sink stream",
			sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic}}), openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{}})},
			code: codes.FailedPrecondition, says: []string{"open", "already open"}},
		{name: "sink record without topic",
			sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{}}), records},
			code: codes.InvalidArgument, says: []string{"records.records[0] (batch sequence 1).topic", "no default_topic"}},
		{name: "sink unknown property key",
			sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Properties: map[string]string{"linger.ms": "oops"}}})},
			code: codes.InvalidArgument, says: []string{`open.spec.properties["linger.ms"]`, "milliseconds"}},
		{name: "exactly-once without transactional id prefix",
			sink: []*ferryv1.WriteRequest{openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE}})},
			code: codes.InvalidArgument, says: []string{"open.spec.transactional_id_prefix", "required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st *status.Status
			if tc.source != nil {
				st = f.readStatus(t, tc.source...)
			} else {
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

	// The server is still healthy and a normal round trip still works.
	h, err := healthpb.NewHealthClient(f.conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after bad input: %v %v", h, err)
	}
	want := []*ferryv1.SinkRecord{{Key: []byte("k"), Value: []byte("after")}, {Value: nil}}
	if n := f.writeAll(t, &ferryv1.SinkSpec{DefaultTopic: topic}, [][]*ferryv1.SinkRecord{want}); n != 2 {
		t.Fatalf("wrote %d, want 2", n)
	}
	res := f.readBounded(t, bounded(topic))
	if len(res.records) != 2 || string(res.records[0].GetValue()) != "after" || res.records[1].Value != nil {
		t.Fatalf("round trip after bad input read %v", res.records)
	}
}

func TestRecordKafkaRefusesFailsSessionNamingBatchAndRecord(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	st := f.writeStatus(t,
		openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic}}),
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 7, Records: []*ferryv1.SinkRecord{
			{Value: []byte("ok")}, {Value: []byte("bad partition"), Partition: i32(5)},
		}}}},
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}},
	)
	if st.Code() == codes.OK {
		t.Fatal("a record for partition 5 of a 2-partition topic was reported written")
	}
	for _, s := range []string{"record 1 of batch 7", topic} {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("status %v %q does not name %q", st.Code(), st.Message(), s)
		}
	}
}

func TestUnknownTopicInSinkIsNotFound(t *testing.T) {
	f := startFerry(t)
	st := f.writeStatus(t,
		openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: "no-such-topic-for-sink"}}),
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 3, Records: []*ferryv1.SinkRecord{{Value: []byte("x")}}}}},
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}},
	)
	if st.Code() != codes.NotFound || !strings.Contains(st.Message(), `"no-such-topic-for-sink"`) || !strings.Contains(st.Message(), "batch 3") {
		t.Fatalf("status %v %q, want NOT_FOUND naming the topic and batch 3", st.Code(), st.Message())
	}
}
