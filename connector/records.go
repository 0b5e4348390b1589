package connector

import "github.com/twmb/franz-go/pkg/kgo"

// RecordBytes is the size of a record as Flink's numBytesIn and numBytesOut
// count it here: its key, its value, and its headers' keys and values.
func RecordBytes(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}
