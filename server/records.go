package server

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

func msToTime(ms int64) time.Time { return time.UnixMilli(ms) }

// chunk returns how many of recs, at least one, fit in a RecordBatch message
// of at most maxBatchRecords records and maxBytes of payload, so that
// messages stay well below gRPC's default 4 MiB limit (a single larger
// record gets a message of its own) and a barrier never waits long behind
// one message.
func chunk(recs []*kgo.Record, maxBytes int) int {
	if len(recs) > maxBatchRecords {
		recs = recs[:maxBatchRecords]
	}
	size := 0
	for i, r := range recs {
		n := len(r.Key) + len(r.Value) + len(r.Topic) + 32
		for _, h := range r.Headers {
			n += len(h.Key) + len(h.Value) + 8
		}
		if size+n > maxBytes && i > 0 {
			return i
		}
		size += n
	}
	return len(recs)
}

func toRecordBatch(recs []*kgo.Record) *ferryv1.RecordBatch {
	b := &ferryv1.RecordBatch{Records: make([]*ferryv1.Record, len(recs))}
	for i, r := range recs {
		b.Records[i] = toProtoRecord(r)
	}
	return b
}

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
	if len(r.Headers) > 0 {
		out.Headers = make([]*ferryv1.Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = &ferryv1.Header{Key: h.Key, Value: h.Value}
		}
	}
	return out
}
