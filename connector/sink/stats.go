package sink

import (
	"sync/atomic"
	"time"
)

// Stats are a writer's figures for metrics: Flink's KafkaWriter metrics and
// the transactions of EXACTLY_ONCE. The writer counts with atomics, per
// batch where it can, and any goroutine may read them (Writer.Stats).
type Stats struct {
	// RecordsOut counts the records Kafka acknowledged: Written (Flink's
	// numRecordsOut counts records handed to the producer).
	RecordsOut int64
	// BytesOut counts the keys, values and headers of the records handed
	// to Kafka (numBytesOut).
	BytesOut int64
	// RecordsOutErrors counts the records Kafka refused or did not
	// acknowledge (numRecordsOutErrors).
	RecordsOutErrors int64
	// SendTime is how long Kafka took, from the hand-over, to acknowledge
	// the last batch it acknowledged in full; 0 before (currentSendTime).
	SendTime time.Duration
	// TransactionsPrepared counts the transactions pre-committed at
	// checkpoints, TransactionsCommitted those committed,
	// TransactionsAborted the open one aborted at close and the lingering
	// ones of earlier runs aborted at open, TransactionsRecovered the
	// prepared ones of a restore state committed at open (EXACTLY_ONCE).
	TransactionsPrepared, TransactionsCommitted, TransactionsAborted, TransactionsRecovered int64
}

// writerStats are the atomics behind Stats.
type writerStats struct {
	bytesOut, recordsOutErrors atomic.Int64
	sendTime                   atomic.Int64 // ns
	prepared, committed        atomic.Int64
	aborted, recovered         atomic.Int64
}

// Stats returns the writer's figures; any goroutine may call it.
func (w *KafkaWriter) Stats() Stats {
	st := &w.stats
	return Stats{
		RecordsOut: w.written.Load(), BytesOut: st.bytesOut.Load(), RecordsOutErrors: st.recordsOutErrors.Load(),
		SendTime:             time.Duration(st.sendTime.Load()),
		TransactionsPrepared: st.prepared.Load(), TransactionsCommitted: st.committed.Load(),
		TransactionsAborted: st.aborted.Load(), TransactionsRecovered: st.recovered.Load(),
	}
}
