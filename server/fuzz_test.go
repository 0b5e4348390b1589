package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// The fuzz targets of spec conversion and of the record encoder. `make
// test` runs them on their seed corpus (the bad-input cases below); `make
// fuzz` runs each for minutes. A finding is a panic, or an error that would
// reach the client as something other than a clear client-side status.

// clientCodes are the statuses a spec's conversion may end in: the client's
// fault, named. Never UNKNOWN or INTERNAL.
var clientCodes = map[codes.Code]bool{codes.InvalidArgument: true, codes.NotFound: true, codes.PermissionDenied: true, codes.FailedPrecondition: true}

func checkSpecErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var invalid *connector.InvalidError
	var notFound *connector.NotFoundError
	var denied *connector.DeniedError
	if !errors.As(err, &invalid) && !errors.As(err, &notFound) && !errors.As(err, &denied) {
		t.Fatalf("conversion error of an unexpected type %T: %v", err, err)
	}
	if c := status.Code(toStatus(specField(err))); !clientCodes[c] {
		t.Fatalf("conversion error maps to %v: %v", c, err)
	}
}

func seedSpecs(f *testing.F, msgs ...proto.Message) {
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzSourceSpec(f *testing.F) {
	long := strings.Repeat("x", 2000)
	seedSpecs(f,
		&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{"t"}}}},
		&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{TopicPattern: "a[", GroupId: long}},
		&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Partitions: &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: "../etc passwd", Partition: -1}}}}},
		&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{"t"}}, Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED,
			StartingOffsets: &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_TimestampMs{TimestampMs: 1 << 62}},
			Properties:      map[string]string{"client.id": "a\nb", "transaction.timeout.ms": "1000000000000"}},
			Parallelism: i32(1_000_000_000), ReaderIndex: -5,
			Restore: &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: "t", Partition: 9999, NextOffset: -1}}}},
		&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{"t"}},
			WatermarkStrategy: &ferryv1.WatermarkStrategy{Kind: 9, MaxOutOfOrdernessMs: -1, IdleTimeoutMs: i64(0)},
			Cluster:           &ferryv1.Cluster{BootstrapServers: []string{"10.0.0.1:9092"}}}},
	)
	s := specServerF(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var open ferryv1.OpenSource
		if proto.Unmarshal(data, &open) != nil {
			return
		}
		cfg, _, err := s.sourceSpec(&open, "fuzzer")
		checkSpecErr(t, err)
		if err == nil {
			checkSpecErr(t, s.authorizeSource("fuzzer", &cfg))
		}
	})
}

func FuzzSinkSpec(f *testing.F) {
	seedSpecs(f,
		&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: "t"}},
		&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: strings.Repeat("p", 70000)}},
		&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DeliveryGuarantee: 7, Partitioner: 9, DefaultTopic: "a/b"}, Parallelism: i32(40000), WriterIndex: -1,
			Restore: &ferryv1.SinkState{Transactions: []*ferryv1.PreparedTransaction{{TransactionalId: "x", ProducerEpoch: 40000}}}},
	)
	s := specServerF(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var open ferryv1.OpenSink
		if proto.Unmarshal(data, &open) != nil {
			return
		}
		cfg, err := s.sinkSpec(&open, "fuzzer")
		checkSpecErr(t, err)
		if err == nil {
			checkSpecErr(t, s.authorizeSink("fuzzer", cfg))
		}
	})
}

func FuzzSinkBatch(f *testing.F) {
	seedSpecs(f,
		&ferryv1.WriteBatch{Sequence: 1, Records: []*ferryv1.SinkRecord{{Value: []byte("v")}}},
		&ferryv1.WriteBatch{Sequence: -1, Records: []*ferryv1.SinkRecord{{Topic: strings.Repeat("t", 300), Partition: i32(-1), TimestampMs: i64(-1)}}},
		&ferryv1.WriteBatch{Sequence: 2, Records: []*ferryv1.SinkRecord{{Headers: make([]*ferryv1.Header, 2000)}},
			ConsumedOffsets: &ferryv1.ConsumedOffsets{GroupId: "g\x00", Offsets: []*ferryv1.PartitionOffset{{Topic: "..", Offset: -1}}}},
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		var b ferryv1.WriteBatch
		if proto.Unmarshal(data, &b) != nil {
			return
		}
		recs, err := sinkRecords(&b, "default")
		checkSpecErr(t, err)
		if err == nil && len(recs) != len(b.GetRecords()) {
			t.Fatalf("%d records converted from %d", len(recs), len(b.GetRecords()))
		}
		for _, g := range []ferryv1.DeliveryGuarantee{ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_NONE, ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE} {
			guarantee, _ := guaranteeSpec(g, "p")
			_, _, err := consumedOffsetsSpec(&b, guarantee)
			checkSpecErr(t, err)
		}
	})
}

// FuzzRecordsMessage checks the hand-written record encoder against
// proto.Marshal for records built from the fuzzer's bytes.
func FuzzRecordsMessage(f *testing.F) {
	f.Add("topic", int32(0), int64(0), int64(0), []byte("k"), []byte("v"), "h", []byte("hv"), false, false, uint8(1))
	f.Add("", int32(-1), int64(-1), int64(-1), []byte{}, []byte(nil), "", []byte(nil), true, true, uint8(0))
	f.Add("t", int32(2147483647), int64(9223372036854775807), int64(253402300799999), bytes.Repeat([]byte{0xff}, 300), []byte{0}, "é", []byte{}, false, true, uint8(200))
	f.Fuzz(func(t *testing.T, topic string, partition int32, offset, tsMs int64, key, value []byte, hkey string, hval []byte, nilKey, logAppend bool, n uint8) {
		if !utf8.ValidString(topic) || !utf8.ValidString(hkey) {
			return // Kafka's strings are UTF-8; proto.Marshal refuses others
		}
		if nilKey {
			key = nil
		}
		r := &kgo.Record{Topic: topic, Partition: partition, Offset: offset, Timestamp: time.UnixMilli(tsMs), Key: key, Value: value, LeaderEpoch: partition / 2}
		if logAppend {
			r.Attrs = kgo.NewRecordAttrs(kgo.RecordAttrsOpts{TimestampType: 1})
		}
		for i := 0; i < int(n%4); i++ {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: hkey, Value: hval})
		}
		recs := make([]*kgo.Record, 1+int(n%5))
		for i := range recs {
			recs[i] = r
		}
		if got, want := encoded(t, recs), referenceBytes(t, recs); !bytes.Equal(got, want) {
			t.Fatalf("encoded %x\nproto   %x", got, want)
		}
	})
}

// specServerF is specServer for a fuzz target.
func specServerF(f *testing.F) *Server {
	f.Helper()
	return newSpecServer(f)
}
