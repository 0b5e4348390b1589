package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// produceSmallBatches writes n numbered records ("p/i") to each partition in
// small producer batches, so that a reader with a small fetch size gets them
// a few at a time and a checkpoint falls mid-stream.
func produceSmallBatches(t *testing.T, topic string, partitions int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(2048), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%d/%d", p, i))})
		}
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// checkpointAfter opens a reader, waits for its first records, takes
// checkpoint id and returns the records delivered before the barrier and the
// barrier's state. Records after the barrier are dropped, as a crash would.
func (f *ferry) checkpointAfter(t *testing.T, open *ferryv1.OpenSource, id int64) ([]*ferryv1.Record, []*ferryv1.SplitState) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel() // the reader is gone after its barrier, and so is its session
	stream, err := f.source.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSource(open)); err != nil {
		t.Fatal(err)
	}
	var before []*ferryv1.Record
	asked := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("reader %d: %v", open.GetReaderIndex(), err)
		}
		switch k := resp.GetKind().(type) {
		case *ferryv1.ReadResponse_Opened:
			if len(k.Opened.GetSplits()) == 0 {
				t.Fatalf("reader %d owns no split", open.GetReaderIndex())
			}
		case *ferryv1.ReadResponse_Records:
			before = append(before, k.Records.GetRecords()...)
		case *ferryv1.ReadResponse_Barrier:
			if k.Barrier.GetCheckpointId() != id {
				t.Fatalf("barrier %d, want %d", k.Barrier.GetCheckpointId(), id)
			}
			stream.CloseSend()
			return before, k.Barrier.GetState().GetSplits()
		}
		if !asked && len(before) > 0 {
			asked = true
			if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// drain opens a reader and reads until every split it owns has delivered
// its records up to end (offsets per partition); then it closes.
func (f *ferry) drain(t *testing.T, open *ferryv1.OpenSource, end int64) []*ferryv1.Record {
	t.Helper()
	stream, err := f.source.Read(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSource(open)); err != nil {
		t.Fatal(err)
	}
	var out []*ferryv1.Record
	next := map[int32]int64{}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		switch k := resp.GetKind().(type) {
		case *ferryv1.ReadResponse_Opened:
			for _, sp := range k.Opened.GetSplits() {
				next[sp.GetPartition()] = sp.GetNextOffset()
			}
		case *ferryv1.ReadResponse_Records:
			for _, r := range k.Records.GetRecords() {
				out = append(out, r)
				next[r.GetPartition()] = r.GetOffset() + 1
			}
		}
		done := true
		for _, n := range next {
			done = done && n >= end
		}
		if done {
			stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Close{Close: &ferryv1.Close{}}})
			return out
		}
	}
}

// TestCheckpointRestoreAcrossParallelismChanges reads a topic with 4 readers,
// checkpoints mid-stream, restores the union of their states into 3 readers,
// checkpoints again, and finishes with 5: every record is delivered before a
// barrier exactly once across the whole run.
func TestCheckpointRestoreAcrossParallelismChanges(t *testing.T) {
	f := startFerry(t)
	const partitions, perPartition = 7, 400
	topic := f.createTopic(t, partitions)
	produceSmallBatches(t, topic, partitions, perPartition)
	small := map[string]string{"max.partition.fetch.bytes": "1", "fetch.max.bytes": "1"}
	reader := func(i, n int32, restore []*ferryv1.SplitState) *ferryv1.OpenSource {
		return &ferryv1.OpenSource{
			Spec:        &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, Properties: small},
			ReaderIndex: i, Parallelism: i32(n), Restore: &ferryv1.SourceState{Splits: restore},
		}
	}
	var output []*ferryv1.Record
	var state []*ferryv1.SplitState
	for phase, n := range []int32{4, 3} {
		var union []*ferryv1.SplitState
		for i := int32(0); i < n; i++ {
			recs, st := f.checkpointAfter(t, reader(i, n, state), int64(phase+1))
			output = append(output, recs...)
			union = append(union, st...)
		}
		if len(union) != partitions {
			t.Fatalf("phase %d: the union of %d readers' states has %d splits, want %d", phase, n, len(union), partitions)
		}
		var taken int64
		for _, s := range union {
			taken += s.GetNextOffset()
		}
		t.Logf("phase %d (%d readers): %d of %d records before the barrier", phase, n, taken, partitions*perPartition)
		if taken >= partitions*perPartition {
			t.Fatalf("phase %d consumed everything before its checkpoint; the test needs a mid-stream cut", phase)
		}
		state = union
	}
	for i := int32(0); i < 5; i++ {
		output = append(output, f.drain(t, reader(i, 5, state), perPartition)...)
	}
	seen := map[string]int{}
	for _, r := range output {
		seen[string(r.GetValue())]++
	}
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			v := fmt.Sprintf("%d/%d", p, i)
			if seen[v] != 1 {
				t.Fatalf("record %s delivered %d times across the checkpoints", v, seen[v])
			}
		}
	}
	if len(output) != partitions*perPartition {
		t.Fatalf("%d records delivered, want %d", len(output), partitions*perPartition)
	}
}

func TestRestoredFinishedSplitsFinishAtOnce(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 3)
	open := bounded(topic)
	open.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{
		{Topic: topic, Partition: 0, NextOffset: 3, StoppingOffset: i64(3)},
		{Topic: topic, Partition: 1, NextOffset: 1, StoppingOffset: i64(2)},
	}}
	res := f.readBounded(t, open)
	if got := values(res.records); got != "p1[1/1..1/1]#1" {
		t.Fatalf("read %q after restore, want only 1/1", got)
	}
	open.Restore.Splits[1].StoppingOffset = i64(0)
	if st := f.readStatus(t, openSource(open)); st.Code() != codes.InvalidArgument {
		t.Fatalf("a restored stop before its next offset: %v", st)
	}
}

// TestRestoreStartsPartitionsMissingFromStateAtEarliest restores a state that
// knows one partition of two: the other is read from earliest, as a
// discovered partition would be.
func TestRestoreStartsPartitionsMissingFromStateAtEarliest(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 4)
	open := bounded(topic)
	open.Spec.StartingOffsets = &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Latest_{Latest: &ferryv1.OffsetsInitializer_Latest{}}}
	open.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: topic, Partition: 0, NextOffset: 2, StoppingOffset: i64(4)}}}
	res := f.readBounded(t, open)
	if got := values(res.records); got != "p0[0/2..0/3]#2 p1[1/0..1/3]#4" {
		t.Fatalf("read %q, want partition 0 from its state and partition 1 from earliest (not latest)", got)
	}
}
