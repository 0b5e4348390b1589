package server

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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
