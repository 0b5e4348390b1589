package server

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// toProtoRecord is the reference mapping of a Kafka record onto ferry.v1's
// Record, which recordsMessage.encode must reproduce byte for byte.
func toProtoRecord(r *kgo.Record) *ferryv1.Record {
	tt := ferryv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME
	if r.Attrs.TimestampType() == 1 {
		tt = ferryv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME
	}
	out := &ferryv1.Record{
		Topic:         r.Topic,
		Partition:     r.Partition,
		Offset:        r.Offset,
		TimestampMs:   r.Timestamp.UnixMilli(),
		TimestampType: tt,
		Key:           r.Key,
		Value:         r.Value,
		LeaderEpoch:   r.LeaderEpoch,
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, &ferryv1.Header{Key: h.Key, Value: h.Value})
	}
	return out
}

func referenceBytes(t *testing.T, recs []*kgo.Record) []byte {
	t.Helper()
	b := &ferryv1.RecordBatch{}
	for _, r := range recs {
		b.Records = append(b.Records, toProtoRecord(r))
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Records{Records: b}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func encoded(t *testing.T, recs []*kgo.Record) []byte {
	t.Helper()
	data, err := newWireCodec().Marshal(&recordsMessage{recs: recs})
	if err != nil {
		t.Fatal(err)
	}
	return data.Materialize()
}

func TestRecordsMessageEncodesLikeProto(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3000)
	ts := time.UnixMilli(1_700_000_000_123)
	cases := map[string][]*kgo.Record{
		"small value":             {{Topic: "t", Partition: 1, Offset: 5, Timestamp: ts, Value: []byte("v")}},
		"large value":             {{Topic: "t", Partition: 2, Offset: 6, Timestamp: ts, Key: []byte("k"), Value: big}},
		"large key":               {{Topic: "t", Key: big, Timestamp: ts}},
		"null key and value":      {{Topic: "t", Timestamp: ts}},
		"empty key and value":     {{Topic: "t", Timestamp: ts, Key: []byte{}, Value: []byte{}}},
		"zero fields":             {{}},
		"negative leader epoch":   {{Topic: "t", LeaderEpoch: -1, Partition: 0, Offset: 0, Timestamp: ts}},
		"negative partition":      {{Topic: "t", Partition: -3, Timestamp: time.UnixMilli(-5)}},
		"extreme offset":          {{Topic: "t", Offset: math.MaxInt64, Timestamp: ts, LeaderEpoch: math.MaxInt32}},
		"headers in order, dupes": {{Topic: "t", Timestamp: ts, Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "a"}, {Key: "", Value: []byte{}}, {Key: "b", Value: big}}}},
		"no records":              {},
		"runs of splits": {{Topic: "t", Partition: 1, Offset: 1, Timestamp: ts}, {Topic: "t", Partition: 1, Offset: 2, Timestamp: ts},
			{Topic: "u", Partition: 1, Timestamp: ts}, {Topic: "u", Partition: 2, Timestamp: ts}, {Topic: "", Partition: 2}, {Topic: "t", Partition: 1, Offset: 3}},
	}
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			if got, want := encoded(t, recs), referenceBytes(t, recs); !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from proto.Marshal:\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestRecordsMessageRandomBatchesDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func() []byte {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.IntN(2000))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for round := 0; round < 200; round++ {
		recs := make([]*kgo.Record, rng.IntN(40))
		for i := range recs {
			r := &kgo.Record{Topic: "topic-" + string(rune('a'+rng.IntN(26))), Partition: rng.Int32N(100), Offset: rng.Int64(),
				Timestamp: time.UnixMilli(rng.Int64N(1 << 42)), Key: blob(), Value: blob(), LeaderEpoch: rng.Int32N(10) - 1}
			for h := rng.IntN(3); h > 0; h-- {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: "h" + string(rune('0'+rng.IntN(10))), Value: blob()})
			}
			recs[i] = r
		}
		got := encoded(t, recs)
		if want := referenceBytes(t, recs); !bytes.Equal(got, want) {
			t.Fatalf("round %d: encoding differs from proto.Marshal", round)
		}
		var back ferryv1.ReadResponse
		if err := proto.Unmarshal(got, &back); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := len(back.GetRecords().GetRecords()); n != len(recs) {
			t.Fatalf("round %d: decoded %d records, want %d", round, n, len(recs))
		}
	}
}

func TestWireCodecLeavesOtherMessagesToProto(t *testing.T) {
	msg := &ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Barrier{Barrier: &ferryv1.Barrier{CheckpointId: 9}}}
	c := newWireCodec()
	data, err := c.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var back ferryv1.ReadResponse
	if err := c.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(msg, &back) {
		t.Fatalf("round trip changed the message: %v", &back)
	}
	if err := c.Unmarshal(data, &recordsMessage{}); err == nil {
		t.Fatal("unmarshalling into recordsMessage succeeded")
	}
}

// BenchmarkRecordsMessageEncode encodes a 256 KiB message of 1 KiB records
// and copies it out as gRPC's transport does (into a reused write buffer).
func BenchmarkRecordsMessageEncode(b *testing.B) {
	for _, size := range []int{100, 1024} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			value := bytes.Repeat([]byte{7}, size)
			recs := make([]*kgo.Record, (256<<10)/(size+40))
			ts := time.UnixMilli(1_700_000_000_123)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "ferry-bench-topic", Partition: 3, Offset: int64(1_000_000 + i), Timestamp: ts, Value: value, LeaderEpoch: 1}
			}
			c := newWireCodec()
			out := make([]byte, 0, 512<<10)
			b.SetBytes(int64(len(recs) * size))
			b.ReportAllocs()
			for b.Loop() {
				data, err := c.Marshal(&recordsMessage{recs: recs})
				if err != nil {
					b.Fatal(err)
				}
				out = out[:0]
				for _, p := range data {
					out = append(out, p.ReadOnlyData()...)
				}
				data.Free()
			}
		})
	}
}
