package sessions

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
)

// This file keeps the figures of a session that ferry's metrics read:
// Flink's source reader metrics (numRecordsIn, numBytesIn, sourceIdleTime,
// currentEmitEventTimeLag, watermarkLag, pendingRecords), its
// KafkaSourceReader metrics (commits, current and committed offsets per
// split), and the sink writer's (sink.Stats). The serving goroutine and the
// committer write atomics once per batch or commit, never per record; any
// goroutine reads them with Stats.

// SourceStats are a source session's figures at one moment.
type SourceStats struct {
	// RecordsIn counts the records delivered to the client, BytesIn their
	// keys, values and headers (Flink's numRecordsIn, numBytesIn).
	RecordsIn, BytesIn int64
	// CommitsSucceeded and CommitsFailed count the offset commits
	// (KafkaSourceReader.commitsSucceeded, commitsFailed).
	CommitsSucceeded, CommitsFailed int64
	// IdleTime is how long the session has had nothing to deliver, 0 while
	// it delivers (sourceIdleTime).
	IdleTime time.Duration
	// EmitEventTimeLag is the time from the timestamp of the last record
	// delivered to its delivery, or, while idle, to when idleness began
	// (currentEmitEventTimeLag); set once a record was delivered.
	EmitEventTimeLag *time.Duration
	// WatermarkLag is the same for the last watermark (watermarkLag); set
	// once a watermark was sent.
	WatermarkLag *time.Duration
	// PendingRecords sums, over the splits whose end is known, the records
	// from the next offset to the end, or to the stop when that comes
	// first (pendingRecords); set once an end is known.
	PendingRecords *int64
	// Splits are the session's splits, sorted by topic and partition.
	Splits []SplitStats
}

// SplitStats are the offsets of one split.
type SplitStats struct {
	source.TopicPartition
	// Current is the next offset the session delivers
	// (KafkaSourceReader.currentOffsets).
	Current int64
	// Committed is the offset the session last committed for the split,
	// -1 before (KafkaSourceReader.committedOffsets).
	Committed int64
	// End is the partition's end as the last fetch with records of it saw
	// it (the last stable offset under read_committed), -1 before.
	End int64
	// Stop is the split's stopping offset, or source.NoStop.
	Stop int64
}

// none marks an atomic time or watermark that was never set.
const none = math.MinInt64

// sourceStats are the atomics behind SourceStats.
type sourceStats struct {
	recordsIn, bytesIn atomic.Int64
	commitsSucceeded   atomic.Int64
	idleSince          atomic.Int64 // unix ns when the session became idle; none while it delivers
	lastEvent          atomic.Int64 // unix ms, timestamp of the last delivered record; none before
	watermark          atomic.Int64 // ms, the last watermark sent; none before
	splits             atomic.Pointer[splitIndex]
}

// splitIndex is the session's splits for the goroutines that read and
// commit; replaced, never changed, when splits are added.
type splitIndex struct {
	sorted []*splitStats
	byTP   map[source.TopicPartition]*splitStats
}

type splitStats struct {
	source.TopicPartition
	stop                    int64
	current, committed, end atomic.Int64
}

func (st *sourceStats) init(now time.Time) {
	st.idleSince.Store(now.UnixNano())
	st.lastEvent.Store(none)
	st.watermark.Store(none)
	st.splits.Store(&splitIndex{byTP: map[source.TopicPartition]*splitStats{}})
}

// addSplits adds splits to the index, sorted as order; the serving
// goroutine calls it.
func (st *sourceStats) addSplits(splits []source.Split, order []source.TopicPartition) {
	old := st.splits.Load()
	idx := &splitIndex{byTP: make(map[source.TopicPartition]*splitStats, len(order))}
	for k, v := range old.byTP {
		idx.byTP[k] = v
	}
	for _, sp := range splits {
		ss := &splitStats{TopicPartition: sp.TopicPartition, stop: sp.Stop}
		ss.current.Store(sp.Start)
		ss.committed.Store(-1)
		ss.end.Store(-1)
		idx.byTP[sp.TopicPartition] = ss
	}
	idx.sorted = make([]*splitStats, 0, len(order))
	for _, k := range order {
		idx.sorted = append(idx.sorted, idx.byTP[k])
	}
	st.splits.Store(idx)
}

// delivered counts recs, delivered to the client in order, and moves the
// current offset of each split they belong to past its last one (a batch
// holds the records of a partition together, so that is one store per
// partition). The last record's timestamp is the event time of the emit
// lag (a negative one is none, as in Flink). It marks the session busy.
func (st *sourceStats) delivered(recs []*kgo.Record) {
	var bytes int64
	idx := st.splits.Load()
	for i, r := range recs {
		bytes += connector.RecordBytes(r)
		if i+1 == len(recs) || recs[i+1].Partition != r.Partition || recs[i+1].Topic != r.Topic {
			if ss := idx.byTP[source.TopicPartition{Topic: r.Topic, Partition: r.Partition}]; ss != nil {
				ss.current.Store(r.Offset + 1)
			}
		}
	}
	st.recordsIn.Add(int64(len(recs)))
	st.bytesIn.Add(bytes)
	if ts := recs[len(recs)-1].Timestamp.UnixMilli(); ts >= 0 {
		st.lastEvent.Store(ts)
	}
	st.idleSince.Store(none)
}

// ends records the partitions' ends a batch brings, before it is
// delivered.
func (st *sourceStats) ends(ends []source.PartitionEnd) {
	idx := st.splits.Load()
	for _, e := range ends {
		if ss := idx.byTP[e.TopicPartition]; ss != nil {
			ss.end.Store(e.End)
		}
	}
}

// endBatch moves the splits' offsets to where batch b left them (past
// control records, to a stop) and, when no batch waits (more), marks the
// session idle from now.
func (st *sourceStats) endBatch(b source.Batch, more bool, now time.Time) {
	idx := st.splits.Load()
	for _, m := range b.Moved {
		if ss := idx.byTP[m.TopicPartition]; ss != nil {
			ss.current.Store(m.Next)
		}
	}
	if !more {
		st.idleSince.CompareAndSwap(none, now.UnixNano())
	}
}

// committed records a successful commit of offsets; the committer calls it.
func (st *sourceStats) committed(offsets []source.SplitState) {
	st.commitsSucceeded.Add(1)
	idx := st.splits.Load()
	for _, o := range offsets {
		if ss := idx.byTP[o.TopicPartition]; ss != nil {
			ss.committed.Store(o.Next)
		}
	}
}

// Stats returns the session's figures at now. It is safe to call from any
// goroutine.
func (s *Source) Stats(now time.Time) SourceStats {
	st := &s.stats
	out := SourceStats{
		RecordsIn: st.recordsIn.Load(), BytesIn: st.bytesIn.Load(),
		CommitsSucceeded: st.commitsSucceeded.Load(), CommitsFailed: s.failed.Load(),
	}
	// As Flink's source reader metrics: while idle, the last emit time is
	// when idleness began; while busy, now.
	emitted := now
	if since := st.idleSince.Load(); since != none {
		emitted = time.Unix(0, since)
		out.IdleTime = max(now.Sub(emitted), 0)
	}
	if ev := st.lastEvent.Load(); ev != none {
		lag := emitted.Sub(time.UnixMilli(ev))
		out.EmitEventTimeLag = &lag
	}
	if wm := st.watermark.Load(); wm != none {
		lag := emitted.Sub(time.UnixMilli(wm))
		out.WatermarkLag = &lag
	}
	idx := st.splits.Load()
	out.Splits = make([]SplitStats, len(idx.sorted))
	var pending int64
	known := false
	for i, ss := range idx.sorted {
		sp := SplitStats{TopicPartition: ss.TopicPartition, Current: ss.current.Load(), Committed: ss.committed.Load(),
			End: ss.end.Load(), Stop: ss.stop}
		out.Splits[i] = sp
		if sp.End < 0 {
			continue
		}
		end := sp.End
		if sp.Stop != source.NoStop {
			end = min(end, sp.Stop)
		}
		pending += max(end-sp.Current, 0)
		known = true
	}
	if known {
		out.PendingRecords = &pending
	}
	return out
}

// Stats returns the writer's figures; see sink.Stats. It is safe to call
// from any goroutine.
func (s *Sink) Stats() sink.Stats { return s.writer.Stats() }
