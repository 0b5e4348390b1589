package sink

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

func TestOwnsTransaction(t *testing.T) {
	cases := []struct {
		id                 string
		index, parallelism int
		want               bool
	}{
		{"p-0-0", 0, 1, true},
		{"p-1-3", 1, 2, true},
		{"p-3-0", 1, 2, true}, // writer 3 of an earlier run with more writers
		{"p-2-0", 1, 2, false},
		{"p-1-0", 0, 2, false},
		{"p-2-0", 2, 0, true}, // parallelism unknown: its own index only
		{"p-4-0", 0, 0, false},
		{"p-x-1-0", 1, 2, false}, // another prefix, p-x
		{"p-1", 1, 2, false},
		{"p-1-", 1, 2, false},
		{"p-+1-0", 1, 2, false},
		{"p-1-0x", 1, 2, false},
		{"q-1-0", 1, 2, false},
		{"p-99999999999999999999-0", 0, 1, false},
	}
	for _, c := range cases {
		if got := ownsTransaction(c.id, "p", c.index, c.parallelism); got != c.want {
			t.Errorf("ownsTransaction(%q, index %d of %d) = %v, want %v", c.id, c.index, c.parallelism, got, c.want)
		}
	}
}

// TestLingeringTransactionsOfRemovedWritersAreAborted: three writers
// vanish with transactions open; the job comes back with two writers and
// no restore state. Writer 0 aborts those of writers 0 and 2 (gone), writer
// 1 its own; none is left open.
func TestLingeringTransactionsOfRemovedWritersAreAborted(t *testing.T) {
	c := fakeCluster(t)
	ctx := context.Background()
	open := func(index, parallelism int) *ExactlyOnceWriter {
		w, err := Open(ctx, Config{Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Guarantee: ExactlyOnce,
			DefaultTopic: "t", TransactionalIDPrefix: "shrink", WriterIndex: index, Parallelism: parallelism})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close(ctx) })
		return w.(*ExactlyOnceWriter)
	}
	for i := 0; i < 3; i++ {
		w := open(i, 3)
		if err := w.Write(ctx, 1, sized(1)); err != nil {
			t.Fatal(err)
		}
		if err := w.txn.current.cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(openTransactions(t, c.ListenAddrs())); n != 3 {
		t.Fatalf("%d transactions open after three writers vanished, want 3", n)
	}
	if st := open(0, 2).Stats(); st.TransactionsAborted != 2 {
		t.Errorf("writer 0 of 2 aborted %d lingering transactions, want 2 (its own and writer 2's)", st.TransactionsAborted)
	}
	if st := open(1, 2).Stats(); st.TransactionsAborted != 1 {
		t.Errorf("writer 1 of 2 aborted %d lingering transactions, want 1", st.TransactionsAborted)
	}
	// The two new writers have their own transactions open, nothing else.
	for _, id := range openTransactions(t, c.ListenAddrs()) {
		if !strings.HasPrefix(id, "shrink-0-") && !strings.HasPrefix(id, "shrink-1-") {
			t.Errorf("transaction %s still open", id)
		}
	}
}

// openTransactions lists the transactional ids with a transaction open.
func openTransactions(t *testing.T, brokers []string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListTransactions(context.Background(), nil, []string{"Ongoing", "PrepareAbort", "PrepareCommit"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tx := range listed.Sorted() {
		ids = append(ids, tx.TxnID)
	}
	return ids
}
