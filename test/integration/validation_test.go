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
// serves a normal read. Every rule of the spec conversion is tested without a
// broker in server/spec_test.go; these cases show the statuses through the
// API, and the rules only the connector checks against Kafka.
func TestSourceSpecValidation(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 3)
	specific := func(offs ...*ferryv1.PartitionOffset) *ferryv1.OffsetsInitializer {
		return &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Specific_{Specific: &ferryv1.OffsetsInitializer_Specific{Offsets: offs}}}
	}
	for _, tc := range []struct {
		name string
		mod  func(o *ferryv1.OpenSource)
		code codes.Code
		says []string
	}{
		{"two subscriptions", func(o *ferryv1.OpenSource) { o.Spec.TopicPattern = "x.*" }, codes.InvalidArgument, []string{"open.spec.subscription", "topics and topic_pattern"}},
		{"specific stop before specific start", func(o *ferryv1.OpenSource) {
			o.Spec.StartingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic, Offset: 2})
			o.Spec.StoppingOffsets = specific(&ferryv1.PartitionOffset{Topic: topic, Offset: 1})
		}, codes.InvalidArgument, []string{"open.spec.stopping_offsets", "stopping offset 1 of " + topic + "/0 is before its starting offset 2"}},
		{"bad property value", func(o *ferryv1.OpenSource) { o.Spec.Properties = map[string]string{"isolation.level": "dirty"} },
			codes.InvalidArgument, []string{`open.spec.properties["isolation.level"]`, "read_uncommitted or read_committed"}},
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
