package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// ExactlyOnceWriter is the writer of EXACTLY_ONCE sessions (Flink's
// ExactlyOnceKafkaWriter, which extends KafkaWriter). It embeds the
// *KafkaWriter for its bookkeeping of acknowledged and failed records and
// for its client, which here only sends admin requests; the records go to
// the producer of the open transaction, taken from a pool of transactional
// producers. A checkpoint pre-commits that transaction and opens the next
// one; Commit commits the prepared ones after the checkpoint completed.
type ExactlyOnceWriter struct {
	*KafkaWriter
	txn *transactions
}

// ErrNoTransactions is returned by Transactional for a writer that is not
// EXACTLY_ONCE. Its text is the rule a session reports.
var ErrNoTransactions = errors.New("only EXACTLY_ONCE sessions have transactions to commit")

// Transactional returns w as the *ExactlyOnceWriter whose prepared
// transactions a commit commits, or ErrNoTransactions when w is a
// *KafkaWriter (NONE, AT_LEAST_ONCE): it has nothing to commit, so a commit
// request is out of order.
func Transactional(w Writer) (*ExactlyOnceWriter, error) {
	eo, ok := w.(*ExactlyOnceWriter)
	if !ok {
		return nil, ErrNoTransactions
	}
	return eo, nil
}

// openExactlyOnce turns the connected base writer into an exactly-once one.
// The order matters for data: it first commits the restore state's prepared
// transactions (a *DataLossError when one can no longer be committed),
// because initialising their transactional ids again would abort them; then
// it aborts this writer's lingering transactions, which would otherwise
// block read_committed readers; only then does it open a transaction. On an
// error it closes base.
func openExactlyOnce(ctx context.Context, base *KafkaWriter, cfg Config, opts []kgo.Opt) (*ExactlyOnceWriter, error) {
	timeout := cfg.Settings.TransactionTimeout
	for _, p := range cfg.Restore {
		span := base.spans.Start("ferry.transaction.recover", append(producerAttrs(p.ProducerID, p.ProducerEpoch),
			attrTransactionalID.String(p.TransactionalID), connector.AttrCheckpointID.Int64(p.CheckpointID))...)
		err := recoverCommit(ctx, base.cl, p)
		connector.EndSpan(span, err)
		if err != nil {
			base.Close(ctx)
			return nil, err
		}
		base.stats.recovered.Add(1)
	}
	span := base.spans.Start("ferry.transactions.abort_lingering",
		connector.AttrTransactionalIDPrefix.String(cfg.TransactionalIDPrefix), connector.AttrIndex.Int(cfg.WriterIndex))
	aborted, err := abortLingering(ctx, base.cl, cfg.TransactionalIDPrefix, cfg.WriterIndex, cfg.Parallelism, timeout)
	base.stats.aborted.Add(int64(aborted))
	connector.EndSpan(span, err)
	if err != nil {
		base.Close(ctx)
		return nil, err
	}
	txn := &transactions{
		spans:  base.spans,
		prefix: cfg.TransactionalIDPrefix, index: cfg.WriterIndex, version: transactionVersion(ctx, base.cl),
		opts: append(opts, kgo.TransactionTimeout(timeout)), idle: make(map[int]*txnProducer), inUse: make(map[int]bool),
		stats: &base.stats,
	}
	cur, err := txn.take(ctx)
	if err != nil {
		// The pool holds no producer yet: closing base closes everything.
		base.Close(ctx)
		return nil, err
	}
	txn.current = cur
	return &ExactlyOnceWriter{KafkaWriter: base, txn: txn}, nil
}

// Write produces the records of batch seq into the open transaction; see
// Writer.
func (w *ExactlyOnceWriter) Write(ctx context.Context, seq int64, recs []*kgo.Record) error {
	defer w.failWhenDone(ctx)()
	if err := w.Err(); err != nil {
		return err
	}
	p := w.txn.current
	// Counted when handed to franz-go, not when acknowledged: the count
	// decides how the transaction ends. One without records is not
	// prepared, or, holding only consumed offsets, is ended with a raw
	// EndTxn (see endRaw), as franz-go ends only transactions it produced
	// records in.
	p.records += int64(len(recs))
	w.txn.traceBegin(ctx, p)
	return w.produce(p.cl, p.span, seq, recs)
}

// Checkpoint pre-commits the open transaction for checkpoint id and opens
// the next one (Flink's prepareCommit), and returns every prepared
// transaction not committed yet. An empty transaction is not prepared
// (FLINK-31363). It returns the first record error, or the error of a
// Kafka request (a *connector.UnavailableError when Kafka did not answer
// within the delivery timeout).
func (w *ExactlyOnceWriter) Checkpoint(ctx context.Context, id int64) ([]Prepared, error) {
	if err := w.request(ctx, fmt.Sprintf("preparing checkpoint %d", id), func(rctx context.Context) error {
		return w.txn.prepare(rctx, id, w.flushOpen)
	}); err != nil {
		return nil, err
	}
	return w.txn.state(), nil
}

// Commit commits the prepared transactions of checkpoints up to id, in
// order, and returns their producers to the pool. Call it only once
// checkpoint id is durable on the client's side (Flink commits on
// notifyCheckpointComplete): records committed for a checkpoint that is
// then lost would be written again after a restore from an earlier one. A
// failed commit returns an error naming the transaction and the
// checkpoint that wraps Kafka's (a *kerr.Error stays in the chain), or a
// *connector.UnavailableError when Kafka did not answer within the delivery
// timeout.
func (w *ExactlyOnceWriter) Commit(ctx context.Context, id int64) error {
	return w.request(ctx, fmt.Sprintf("committing checkpoint %d", id), func(rctx context.Context) error {
		return w.txn.commit(rctx, id)
	})
}

// TransactionalIDs returns the ids of the transactions not committed yet:
// the open one, then the prepared ones in checkpoint order. Like every
// method, call it only from the goroutine that drives the writer.
func (w *ExactlyOnceWriter) TransactionalIDs() []string {
	ids := make([]string, 0, 1+len(w.txn.prepared))
	if w.txn.current != nil {
		ids = append(ids, w.txn.current.id)
	}
	for _, p := range w.txn.prepared {
		ids = append(ids, p.TransactionalID)
	}
	return ids
}

// Finish does nothing: the records of the open transaction belong to no
// checkpoint, so Close aborts it rather than flush it, and a restore
// writes them again.
func (w *ExactlyOnceWriter) Finish(context.Context) error { return nil }

// Close aborts the open transaction and closes every Kafka client. The
// prepared transactions stay open on the broker for a commit after a
// restore (Flink's ExactlyOnceKafkaWriter closes the same way).
func (w *ExactlyOnceWriter) Close(ctx context.Context) {
	w.txn.close(ctx)
	w.KafkaWriter.Close(ctx)
}

// flushOpen waits until Kafka answered every record of the open
// transaction, and returns the first record error.
func (w *ExactlyOnceWriter) flushOpen(context.Context) error {
	return w.flush(w.txn.current.cl)
}
