package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// writeAll writes batches through one sink session and closes it, returning
// what SinkClosed reports.
func (f *ferry) writeAll(t testing.TB, spec *ferryv1.SinkSpec, batches [][]*ferryv1.SinkRecord) int64 {
	t.Helper()
	stream, err := f.sink.Write(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	send := func(r *ferryv1.WriteRequest) {
		t.Helper()
		if err := stream.Send(r); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Open{Open: &ferryv1.OpenSink{Spec: spec}}})
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if resp.GetOpened().GetSessionId() == "" {
		t.Fatalf("first answer is not opened: %v", resp)
	}
	for i, b := range batches {
		send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: int64(i + 1), Records: b}}})
	}
	send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}})
	resp, err = stream.Recv()
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	closed := resp.GetClosed()
	if closed == nil {
		t.Fatalf("answer to close is not closed: %v", resp)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after closed the stream must end with OK, got %v", err)
	}
	return closed.GetRecordsWritten()
}

// readResult is everything a bounded source session sent.
type readResult struct {
	opened   *ferryv1.SourceOpened
	records  []*ferryv1.Record
	finished []*ferryv1.SplitFinished
	batches  int
}

// readBounded opens a source session, reads until EndOfInput and checks that
// the stream then ends with OK.
func (f *ferry) readBounded(t testing.TB, open *ferryv1.OpenSource) readResult {
	t.Helper()
	stream, err := f.source.Read(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: open}}); err != nil {
		t.Fatal(err)
	}
	var res readResult
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("read: %v (after %d records)", err, len(res.records))
		}
		switch k := resp.GetKind().(type) {
		case *ferryv1.ReadResponse_Opened:
			if res.opened != nil {
				t.Fatal("opened twice")
			}
			res.opened = k.Opened
		case *ferryv1.ReadResponse_Records:
			res.batches++
			res.records = append(res.records, k.Records.GetRecords()...)
		case *ferryv1.ReadResponse_SplitFinished:
			res.finished = append(res.finished, k.SplitFinished)
		case *ferryv1.ReadResponse_EndOfInput:
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("after end_of_input the stream must end with OK, got %v", err)
			}
			if res.opened == nil {
				t.Fatal("no opened before end_of_input")
			}
			return res
		default:
			t.Fatalf("unexpected message %v", resp)
		}
	}
}

func bounded(topics ...string) *ferryv1.OpenSource {
	return &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics:      &ferryv1.TopicList{Topics: topics},
		Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED,
	}}
}

func i32(v int32) *int32 { return &v }
func i64(v int64) *int64 { return &v }

// variedRecord returns record i of a sequence that covers null and empty
// keys, tombstones and empty values, repeated and null-valued headers,
// explicit partitions and timestamps. Header "i" identifies it.
func variedRecord(i int, partitions int32) *ferryv1.SinkRecord {
	r := &ferryv1.SinkRecord{
		TimestampMs: i64(1_700_000_000_000 + int64(i)),
		Headers: []*ferryv1.Header{
			{Key: "i", Value: []byte(strconv.Itoa(i))},
			{Key: "dup", Value: []byte("first")},
			{Key: "dup", Value: []byte("second")},
		},
	}
	switch i % 4 {
	case 0: // null key (absent), ordinary value
	case 1:
		r.Key = []byte{} // empty key, not null
	default:
		r.Key = []byte(fmt.Sprintf("key-%d", i%97))
		if i%17 == 3 { // large keys and values
			r.Key = bytes.Repeat([]byte{'K', byte(i)}, 300+i%200)
		}
	}
	switch i % 5 {
	case 0:
		r.Value = nil // tombstone
	case 1:
		r.Value = []byte{} // empty value, not a tombstone
	default:
		n := i % 300
		if i%13 == 2 { // large keys and values
			n = 400 + i%2000
		}
		r.Value = bytes.Repeat([]byte{byte(i)}, n)
	}
	if i%19 == 0 {
		r.Headers = append(r.Headers, &ferryv1.Header{Key: "large-header", Value: bytes.Repeat([]byte{'h', byte(i)}, 400+i%300)})
	}
	if i%7 == 0 {
		r.Headers = append(r.Headers, &ferryv1.Header{Key: "null-header"}) // null header value
	}
	if i%3 == 0 {
		r.Headers = append(r.Headers, &ferryv1.Header{Key: "empty-header", Value: []byte{}})
	}
	if i%11 == 0 {
		r.Partition = i32(int32(i) % partitions)
	}
	return r
}

func TestRoundTripTenThousandRecords(t *testing.T) {
	f := startFerry(t)
	const n, batch, partitions = 10_000, 500, 3
	topic := f.createTopic(t, partitions)

	var sent []*ferryv1.SinkRecord
	var batches [][]*ferryv1.SinkRecord
	for i := 0; i < n; i += batch {
		var b []*ferryv1.SinkRecord
		for j := i; j < i+batch; j++ {
			r := variedRecord(j, partitions)
			sent = append(sent, r)
			b = append(b, r)
		}
		batches = append(batches, b)
	}
	if written := f.writeAll(t, &ferryv1.SinkSpec{DefaultTopic: topic}, batches); written != n {
		t.Fatalf("closed reports %d records written, want %d", written, n)
	}

	res := f.readBounded(t, bounded(topic))
	if !res.opened.GetBounded() || len(res.opened.GetSplits()) != partitions {
		t.Fatalf("opened = %v, want bounded with %d splits", res.opened, partitions)
	}
	if len(res.finished) != partitions {
		t.Errorf("got %d split_finished, want %d", len(res.finished), partitions)
	}
	if res.batches < 2 {
		t.Errorf("10,000 records came in %d batch(es); records must be batched but bounded", res.batches)
	}
	if len(res.records) != n {
		t.Fatalf("read %d records, want %d", len(res.records), n)
	}
	next := map[int32]int64{}
	seen := make(map[int]bool)
	for _, got := range res.records {
		if got.GetOffset() < next[got.GetPartition()] {
			t.Fatalf("partition %d: offset %d after %d", got.GetPartition(), got.GetOffset(), next[got.GetPartition()]-1)
		}
		next[got.GetPartition()] = got.GetOffset() + 1
		if len(got.GetHeaders()) == 0 || got.GetHeaders()[0].GetKey() != "i" {
			t.Fatalf("record without its id header: %v", got)
		}
		i, err := strconv.Atoi(string(got.GetHeaders()[0].GetValue()))
		if err != nil || i < 0 || i >= n || seen[i] {
			t.Fatalf("bad or repeated id header in %v", got)
		}
		seen[i] = true
		want := sent[i]
		if err := sameRecord(want, got, topic); err != nil {
			t.Fatalf("record %d: %v\nsent %v\nread %v", i, err, want, got)
		}
	}
	for p, o := range next {
		for _, sp := range res.opened.GetSplits() {
			if sp.GetPartition() == p && sp.GetStoppingOffset() != o {
				t.Errorf("partition %d: last offset read + 1 = %d, stopping offset %d", p, o, sp.GetStoppingOffset())
			}
		}
	}
}

// TestLogAppendTimeTopicReportsBrokerTimestamps reads a topic whose broker
// stamps records (message.timestamp.type=LogAppendTime): the timestamp read
// is the broker's, not the one written, and its type says so.
func TestLogAppendTimeTopicReportsBrokerTimestamps(t *testing.T) {
	f := startFerry(t)
	logAppend := "LogAppendTime"
	topic := f.createTopicWith(t, 1, map[string]*string{"message.timestamp.type": &logAppend})
	before := time.Now().Add(-time.Minute).UnixMilli() // the broker's clock is this machine's
	recs := []*ferryv1.SinkRecord{
		{TimestampMs: i64(1_000), Value: []byte("small")},
		{TimestampMs: i64(2_000), Value: bytes.Repeat([]byte{'v'}, 4000)},
	}
	if written := f.writeAll(t, &ferryv1.SinkSpec{DefaultTopic: topic}, [][]*ferryv1.SinkRecord{recs}); written != 2 {
		t.Fatalf("closed reports %d records written, want 2", written)
	}
	res := f.readBounded(t, bounded(topic))
	if len(res.records) != 2 {
		t.Fatalf("read %d records, want 2", len(res.records))
	}
	for i, got := range res.records {
		if got.GetTimestampType() != ferryv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME {
			t.Errorf("record %d: timestamp type %v, want LOG_APPEND_TIME", i, got.GetTimestampType())
		}
		if got.GetTimestampMs() < before {
			t.Errorf("record %d: timestamp %d is the writer's, not the broker's (>= %d)", i, got.GetTimestampMs(), before)
		}
		if !bytes.Equal(got.GetValue(), recs[i].GetValue()) {
			t.Errorf("record %d: value differs (%d bytes, want %d)", i, len(got.GetValue()), len(recs[i].GetValue()))
		}
	}
}

// sameRecord compares a record read back with the one written, field by
// field, null and empty kept apart.
func sameRecord(want *ferryv1.SinkRecord, got *ferryv1.Record, topic string) error {
	switch {
	case got.GetTopic() != topic:
		return fmt.Errorf("topic %q", got.GetTopic())
	case want.Partition != nil && got.GetPartition() != want.GetPartition():
		return fmt.Errorf("partition %d, want %d", got.GetPartition(), want.GetPartition())
	case (want.Key == nil) != (got.Key == nil):
		return fmt.Errorf("key null=%v, want null=%v", got.Key == nil, want.Key == nil)
	case !bytes.Equal(want.Key, got.Key):
		return fmt.Errorf("key %q, want %q", got.Key, want.Key)
	case (want.Value == nil) != (got.Value == nil):
		return fmt.Errorf("value null=%v, want null=%v", got.Value == nil, want.Value == nil)
	case !bytes.Equal(want.Value, got.Value):
		return fmt.Errorf("value differs (%d bytes, want %d)", len(got.Value), len(want.Value))
	case got.GetTimestampMs() != want.GetTimestampMs():
		return fmt.Errorf("timestamp %d, want %d", got.GetTimestampMs(), want.GetTimestampMs())
	case got.GetTimestampType() != ferryv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME:
		return fmt.Errorf("timestamp type %v", got.GetTimestampType())
	case len(got.GetHeaders()) != len(want.GetHeaders()):
		return fmt.Errorf("%d headers, want %d", len(got.GetHeaders()), len(want.GetHeaders()))
	}
	for j, h := range want.GetHeaders() {
		g := got.GetHeaders()[j]
		if g.GetKey() != h.GetKey() || (g.Value == nil) != (h.Value == nil) || !bytes.Equal(g.Value, h.Value) {
			return fmt.Errorf("header %d = %q:%q (null=%v), want %q:%q (null=%v)", j, g.GetKey(), g.Value, g.Value == nil, h.GetKey(), h.Value, h.Value == nil)
		}
	}
	return nil
}

func TestBoundedReadOfEmptyTopicEndsAtOnce(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	res := f.readBounded(t, bounded(topic))
	if len(res.records) != 0 || len(res.finished) != 2 {
		t.Fatalf("empty topic: %d records, %d split_finished; want 0 and 2", len(res.records), len(res.finished))
	}
}
