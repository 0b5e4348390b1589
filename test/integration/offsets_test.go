package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// baseTs is an hour ago, to the second: recent enough that retention never
// deletes the test's records.
var baseTs = time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()

// produceNumbered writes n records to each of the topic's partitions with a
// direct franz-go client: value "p/i", timestamp baseTs + i seconds.
func produceNumbered(t *testing.T, topic string, partitions int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%d/%d", p, i)),
				Timestamp: time.UnixMilli(baseTs + int64(i)*1000)})
		}
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// values returns the "p/i" values read, sorted by partition then offset.
func values(recs []*ferryv1.Record) string {
	byPart := map[int32][]string{}
	for _, r := range recs {
		byPart[r.GetPartition()] = append(byPart[r.GetPartition()], string(r.GetValue()))
	}
	var out []string
	for p := int32(0); p < 8; p++ {
		if v := byPart[p]; len(v) > 0 {
			out = append(out, fmt.Sprintf("p%d[%s..%s]#%d", p, v[0], v[len(v)-1], len(v)))
		}
	}
	return strings.Join(out, " ")
}

func TestStartingAndStoppingOffsets(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 10)
	group := "g-" + topic
	if _, err := f.admin.CommitOffsets(testContext(t), group, kadm.OffsetsFromRecords(
		kgo.Record{Topic: topic, Partition: 0, Offset: 3}, // commits next offset 4
		kgo.Record{Topic: topic, Partition: 1, Offset: 7}, // commits next offset 8
	)); err != nil {
		t.Fatal(err)
	}
	specific := func(reset ferryv1.OffsetResetStrategy, offs ...*ferryv1.PartitionOffset) *ferryv1.OffsetsInitializer {
		return &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Specific_{Specific: &ferryv1.OffsetsInitializer_Specific{Offsets: offs, ResetStrategy: reset}}}
	}
	committed := func(reset ferryv1.OffsetResetStrategy) *ferryv1.OffsetsInitializer {
		return &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Committed_{Committed: &ferryv1.OffsetsInitializer_Committed{ResetStrategy: reset}}}
	}
	timestamp := func(ms int64) *ferryv1.OffsetsInitializer {
		return &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_TimestampMs{TimestampMs: ms}}
	}
	latest := &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Latest_{Latest: &ferryv1.OffsetsInitializer_Latest{}}}
	for _, tc := range []struct {
		name        string
		group       string
		start, stop *ferryv1.OffsetsInitializer
		unbounded   bool
		want        string
	}{
		{name: "earliest to latest", want: "p0[0/0..0/9]#10 p1[1/0..1/9]#10"},
		{name: "latest start reads nothing", start: latest, want: ""},
		{name: "timestamp", start: timestamp(baseTs + 5000), want: "p0[0/5..0/9]#5 p1[1/5..1/9]#5"},
		{name: "timestamp between records", start: timestamp(baseTs + 4500), want: "p0[0/5..0/9]#5 p1[1/5..1/9]#5"},
		{name: "timestamp after every record is the end", start: timestamp(baseTs + 60_000), want: ""},
		{name: "specific, others earliest", start: specific(0, &ferryv1.PartitionOffset{Topic: topic, Partition: 0, Offset: 3}),
			want: "p0[0/3..0/9]#7 p1[1/0..1/9]#10"},
		{name: "specific, others latest", start: specific(ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_LATEST, &ferryv1.PartitionOffset{Topic: topic, Partition: 1, Offset: 9}),
			want: "p1[1/9..1/9]#1"},
		{name: "committed", group: group, start: committed(0), want: "p0[0/4..0/9]#6 p1[1/8..1/9]#2"},
		{name: "committed, unknown group, reset earliest", group: group + "-new", start: committed(ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_EARLIEST),
			want: "p0[0/0..0/9]#10 p1[1/0..1/9]#10"},
		{name: "committed, unknown group, reset latest", group: group + "-new", start: committed(ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_LATEST), want: ""},
		{name: "stop at specific offsets", stop: specific(0, &ferryv1.PartitionOffset{Topic: topic, Partition: 0, Offset: 2}, &ferryv1.PartitionOffset{Topic: topic, Partition: 1, Offset: 5}),
			want: "p0[0/0..0/1]#2 p1[1/0..1/4]#5"},
		{name: "stop at a timestamp", stop: timestamp(baseTs + 3000), want: "p0[0/0..0/2]#3 p1[1/0..1/2]#3"},
		{name: "stop at committed offsets", group: group, stop: committed(0), want: "p0[0/0..0/3]#4 p1[1/0..1/7]#8"},
		{name: "unbounded with a stop ends too", unbounded: true, start: timestamp(baseTs + 8000), stop: latest, want: "p0[0/8..0/9]#2 p1[1/8..1/9]#2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := bounded(topic)
			open.Spec.GroupId = tc.group
			open.Spec.StartingOffsets = tc.start
			open.Spec.StoppingOffsets = tc.stop
			if tc.unbounded {
				open.Spec.Boundedness = ferryv1.Boundedness_BOUNDEDNESS_CONTINUOUS_UNBOUNDED
			}
			res := f.readBounded(t, open)
			if got := values(res.records); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if len(res.finished) != 2 {
				t.Errorf("%d split_finished, want 2", len(res.finished))
			}
		})
	}

	t.Run("committed with reset none and no commit names the partition", func(t *testing.T) {
		open := bounded(topic)
		open.Spec.GroupId = group + "-none"
		open.Spec.StartingOffsets = committed(ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_NONE)
		st := f.readStatus(t, openSource(open))
		if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), topic+"/0") || !strings.Contains(st.Message(), "NONE") {
			t.Fatalf("status %v %q, want FAILED_PRECONDITION naming %s/0", st.Code(), st.Message(), topic)
		}
	})
	t.Run("committed without group id", func(t *testing.T) {
		open := bounded(topic)
		open.Spec.StartingOffsets = committed(0)
		st := f.readStatus(t, openSource(open))
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "open.spec.group_id") {
			t.Fatalf("status %v %q, want INVALID_ARGUMENT naming group_id", st.Code(), st.Message())
		}
	})
}
