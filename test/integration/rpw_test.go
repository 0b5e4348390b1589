package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// TestReadProcessWriteWithoutClientState reads an input topic from the
// group's committed offsets, writes transformed records exactly-once with
// the consumed offsets committed inside the sink's transaction, dies after
// preparing a transaction it never commits, and resumes with no client
// state at all: the output read with read_committed holds every input
// record exactly once.
func TestReadProcessWriteWithoutClientState(t *testing.T) {
	f := startFerry(t)
	in := f.createTopic(t, 2)
	out := f.createTopic(t, 1)
	produceNumbered(t, in, 2, 10) // "p/i"
	group := "rpw-" + in
	prefix := "rpw-" + out
	sourceSpec := func() *ferryv1.OpenSource {
		open := bounded(in)
		open.Spec.GroupId = group
		open.Spec.StartingOffsets = &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Committed_{
			Committed: &ferryv1.OffsetsInitializer_Committed{ResetStrategy: ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_EARLIEST}}}
		open.Spec.Properties = map[string]string{"isolation.level": "read_committed", "commit.offsets.on.checkpoint": "false"}
		return open
	}
	// process writes the given input records, transformed, with the
	// offsets they consumed.
	process := func(s *sinkSession, recs []*ferryv1.Record) {
		t.Helper()
		next := map[int32]int64{}
		b := &ferryv1.WriteBatch{}
		for _, r := range recs {
			b.Records = append(b.Records, &ferryv1.SinkRecord{Value: []byte("out:" + string(r.GetValue()))})
			next[r.GetPartition()] = r.GetOffset() + 1
		}
		co := &ferryv1.ConsumedOffsets{GroupId: group}
		for p, o := range next {
			co.Offsets = append(co.Offsets, &ferryv1.PartitionOffset{Topic: in, Partition: p, Offset: o})
		}
		b.ConsumedOffsets = co
		s.seq++
		b.Sequence = s.seq
		if err := s.stream.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: b}}); err != nil {
			t.Fatal(err)
		}
	}

	// Run 1: the first 8 records commit; the next 5 are prepared, never
	// committed: ferry "dies".
	res := f.readBounded(t, sourceSpec())
	if len(res.records) != 20 {
		t.Fatalf("run 1 read %d records", len(res.records))
	}
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(out, prefix)})
	process(s, res.records[:8])
	s.checkpoint(1)
	s.commit(1)
	process(s, res.records[8:13])
	s.checkpoint(2)
	s.stream.CloseSend()

	// Run 2: no state. The source resumes from the offsets committed with
	// checkpoint 1; the sink's open aborts the transaction of checkpoint 2.
	f.waitCommitted(t, out, committedOut(res.records[:8]))
	res2 := f.readBounded(t, sourceSpec())
	if len(res2.records) != 12 {
		t.Fatalf("run 2 read %d records, want the 12 after the committed offsets", len(res2.records))
	}
	s2, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(out, prefix)})
	process(s2, res2.records)
	s2.checkpoint(1)
	s2.commit(1)
	s2.close()

	want := map[string]bool{}
	for p := 0; p < 2; p++ {
		for i := 0; i < 10; i++ {
			want[fmt.Sprintf("out:%d/%d", p, i)] = true
		}
	}
	var got []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = strings.Split(f.committedValues(t, out), ","); len(got) >= 20 {
			break
		}
	}
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for v := range want {
		if seen[v] != 1 {
			sort.Strings(got)
			t.Fatalf("%s appears %d times in the output: %v", v, seen[v], got)
		}
	}
	if len(got) != 20 {
		t.Fatalf("output has %d records, want 20", len(got))
	}
	// The group's offsets are at the end: a third run reads nothing.
	if res3 := f.readBounded(t, sourceSpec()); len(res3.records) != 0 {
		t.Fatalf("a third run read %d records", len(res3.records))
	}
}

func committedOut(recs []*ferryv1.Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, "out:"+string(r.GetValue()))
	}
	return strings.Join(out, ",")
}
