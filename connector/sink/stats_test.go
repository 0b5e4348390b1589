package sink

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// sized returns n records of 8 bytes each (key, value, one header).
func sized(n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{Key: []byte("k"), Value: []byte("value"), Partition: NoPartition,
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
	}
	return out
}

// TestStatsCountRecords: records out are those Kafka acknowledged, bytes out
// those handed over, and the send time is the last batch's.
func TestStatsCountRecords(t *testing.T) {
	c := fakeCluster(t)
	ctx := context.Background()
	w := openOn(t, c, AtLeastOnce)
	for seq := int64(1); seq <= 2; seq++ {
		if err := w.Write(ctx, seq, sized(5)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Checkpoint(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.RecordsOut != 10 || st.BytesOut != 10*8 || st.RecordsOutErrors != 0 || st.SendTime <= 0 {
		t.Fatalf("after a flushed checkpoint: %+v", st)
	}
	// A topic Kafka does not know fails its record, which counts.
	if err := w.Write(ctx, 3, []*kgo.Record{{Topic: "missing", Value: []byte("v"), Partition: NoPartition}}); err != nil {
		t.Fatal(err)
	}
	_, _ = w.Checkpoint(ctx, 2)
	if st := w.Stats(); st.RecordsOutErrors != 1 || st.RecordsOut != 10 {
		t.Fatalf("after a refused record: %+v", st)
	}
}

// TestStatsCountTransactions: an EXACTLY_ONCE writer counts the
// transactions it prepares, commits, aborts at close, aborts lingering from
// an earlier run, and recovers from a restore state.
func TestStatsCountTransactions(t *testing.T) {
	c := fakeCluster(t)
	ctx := context.Background()
	open := func(restore []Prepared) Writer {
		w, err := Open(ctx, Config{Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Guarantee: ExactlyOnce,
			DefaultTopic: "t", TransactionalIDPrefix: "stats", Restore: restore})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := open(nil)
	var prepared []Prepared
	for id := int64(1); id <= 2; id++ {
		if err := w.Write(ctx, id, sized(2)); err != nil {
			t.Fatal(err)
		}
		var err error
		if prepared, err = w.Checkpoint(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	eo, _ := Transactional(w)
	if err := eo.Commit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Checkpoint 2 stays prepared; the open transaction has records when
	// the writer closes, so close aborts it.
	if err := w.Write(ctx, 3, sized(1)); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.TransactionsPrepared != 2 || st.TransactionsCommitted != 1 || st.TransactionsAborted != 0 {
		t.Fatalf("before close: %+v", st)
	}
	w.Close(ctx)
	if st := w.Stats(); st.TransactionsAborted != 1 {
		t.Fatalf("after close: %+v", st)
	}

	// A restore commits checkpoint 2's transaction.
	var restore []Prepared
	for _, p := range prepared {
		if p.CheckpointID == 2 {
			restore = append(restore, p)
		}
	}
	w = open(restore)
	if st := w.Stats(); st.TransactionsRecovered != 1 || st.TransactionsAborted != 0 {
		t.Fatalf("after a restore: %+v", st)
	}
	// A writer that vanishes leaves its transaction open: the next one
	// aborts it as lingering.
	if err := w.Write(ctx, 1, sized(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.(*ExactlyOnceWriter).txn.current.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w = open(nil)
	defer w.Close(ctx)
	if st := w.Stats(); st.TransactionsAborted != 1 || st.TransactionsRecovered != 0 {
		t.Fatalf("after aborting a lingering transaction: %+v", st)
	}
}
