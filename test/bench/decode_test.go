package main

import (
	"math/rand/v2"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// TestRecordsReadInPlace checks the Go reader's in-place decoding against
// proto.Marshal, with the message in one received buffer and in several.
func TestRecordsReadInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 100; round++ {
		batch := &ferryv1.RecordBatch{}
		for i := rng.IntN(30); i > 0; i-- {
			r := &ferryv1.Record{Topic: "t" + string(rune('a'+rng.IntN(3))), Partition: rng.Int32N(10) - 1, Offset: rng.Int64N(1 << 40),
				TimestampMs: rng.Int64(), TimestampType: ferryv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME, LeaderEpoch: rng.Int32N(5) - 1}
			if rng.IntN(3) > 0 {
				r.Value = make([]byte, rng.IntN(3000))
				for j := range r.Value {
					r.Value[j] = byte(rng.Uint32())
				}
			}
			if rng.IntN(2) == 0 {
				r.Key = []byte("k")
				r.Headers = []*ferryv1.Header{{Key: "h", Value: []byte("v")}}
			}
			batch.Records = append(batch.Records, r)
		}
		b, err := proto.Marshal(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Records{Records: batch}})
		if err != nil {
			t.Fatal(err)
		}
		cut := rng.IntN(len(b) + 1)
		for _, data := range []mem.BufferSlice{{mem.SliceBuffer(b)}, {mem.SliceBuffer(b[:cut]), mem.SliceBuffer(b[cut:])}} {
			var raw rawResponse
			if err := newRawCodec().Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			got, ok, err := raw.records()
			if err != nil || (!ok && len(batch.Records) > 0) {
				t.Fatalf("round %d: records() = ok %v, %v", round, ok, err)
			}
			i := 0
			err = eachRecord(got, func(v *recordView) error {
				want := batch.Records[i]
				i++
				if string(v.topic) != want.Topic || v.partition != want.Partition || v.offset != want.Offset ||
					v.hasValue != (want.Value != nil) || string(v.value) != string(want.Value) {
					t.Fatalf("round %d, record %d: got %s/%d@%d value %v (%d B), want %v", round, i, v.topic, v.partition, v.offset, v.hasValue, len(v.value), want)
				}
				return nil
			})
			if err != nil || i != len(batch.Records) {
				t.Fatalf("round %d: read %d of %d records: %v", round, i, len(batch.Records), err)
			}
			raw.release()
		}
	}
	// Any other response is left to proto.
	b, _ := proto.Marshal(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Barrier{Barrier: &ferryv1.Barrier{CheckpointId: 7}}})
	var raw rawResponse
	raw.set(mem.BufferSlice{mem.SliceBuffer(b)})
	if _, ok, err := raw.records(); ok || err != nil {
		t.Fatalf("a barrier read as records: %v", err)
	}
	if resp, err := raw.decode(); err != nil || resp.GetBarrier().GetCheckpointId() != 7 {
		t.Fatalf("decode = %v, %v", resp, err)
	}
}
