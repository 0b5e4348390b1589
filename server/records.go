package server

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

func msToTime(ms int64) time.Time { return time.UnixMilli(ms) }

// recordBatches converts records into RecordBatch messages of at most
// maxBytes of payload each (a single larger record gets a message of its
// own), so that messages stay below gRPC's default 4 MiB limit.
func recordBatches(recs []*kgo.Record, maxBytes int) []*ferryv1.RecordBatch {
	var (
		out  []*ferryv1.RecordBatch
		cur  = &ferryv1.RecordBatch{}
		size int
	)
	for _, r := range recs {
		n := len(r.Key) + len(r.Value) + len(r.Topic) + 32
		for _, h := range r.Headers {
			n += len(h.Key) + len(h.Value) + 8
		}
		if size+n > maxBytes && len(cur.Records) > 0 {
			out = append(out, cur)
			cur, size = &ferryv1.RecordBatch{}, 0
		}
		cur.Records = append(cur.Records, toProtoRecord(r))
		size += n
	}
	if len(cur.Records) > 0 {
		out = append(out, cur)
	}
	return out
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
