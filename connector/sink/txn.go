package sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector"
)

// Prepared is a pre-committed transaction: what committing it needs, also
// after a restart of ferry.
type Prepared struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	CheckpointID    int64
	// TransactionVersion is the cluster's transaction.version (1 or 2) when
	// the transaction ran; under 2 the broker bumps the epoch at every
	// commit and abort (KIP-890).
	TransactionVersion int32
}

// txnProducer is one transactional franz-go client, owner of transactional
// id {prefix}-{writer index}-{n}.
type txnProducer struct {
	n            int
	id           string
	cl           *kgo.Client
	records      int64 // produced in the open transaction
	offsetsAdded bool  // consumed offsets committed in the open transaction
	// span is the open transaction's from its first record or offsets
	// (traceBegin), nil before.
	span trace.Span
}

// empty reports whether the open transaction holds nothing to commit.
func (p *txnProducer) empty() bool { return p.records == 0 && !p.offsetsAdded }

type preparedTxn struct {
	Prepared
	p *txnProducer
}

// transactions is the exactly-once state of a writer: the producer of the
// open transaction, the prepared ones, and the pool of idle producers.
type transactions struct {
	stats    *writerStats    // the writer's
	spans    connector.Spans // under the session's span
	prefix   string
	index    int
	opts     []kgo.Opt // for new producers, without the transactional id
	version  int32
	current  *txnProducer
	prepared []preparedTxn
	idle     map[int]*txnProducer // committed, reusable
	inUse    map[int]bool
}

func txnID(prefix string, index, n int) string { return fmt.Sprintf("%s-%d-%d", prefix, index, n) }

// take returns the idle producer with the lowest n, or a new one with the
// lowest n not in use, in a new transaction.
func (t *transactions) take(ctx context.Context) (*txnProducer, error) {
	var p *txnProducer
	if len(t.idle) > 0 {
		ns := make([]int, 0, len(t.idle))
		for n := range t.idle {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		p = t.idle[ns[0]]
		delete(t.idle, ns[0])
	} else {
		n := 0
		for t.inUse[n] {
			n++
		}
		id := txnID(t.prefix, t.index, n)
		cl, err := kgo.NewClient(append(t.opts, kgo.TransactionalID(id))...)
		if err != nil {
			return nil, connector.Invalid("properties", "%v", err)
		}
		// Initialising the producer id fences an older producer of the same
		// id and aborts its open transaction.
		if _, _, err := cl.ProducerID(ctx); err != nil {
			cl.Close()
			if errors.Is(err, kerr.InvalidTransactionTimeout) {
				return nil, connector.Invalid(`properties["transaction.timeout.ms"]`, "is above the broker's transaction.max.timeout.ms (%v)", err)
			}
			return nil, &connector.UnavailableError{Op: "initialising transactional id " + id, Err: err}
		}
		p = &txnProducer{n: n, id: id, cl: cl}
	}
	t.inUse[p.n] = true
	if err := p.cl.BeginTransaction(); err != nil {
		return nil, err
	}
	p.records, p.offsetsAdded, p.span = 0, false, nil
	return p, nil
}

// prepare flushes the open transaction without committing it, records it as
// prepared for checkpoint id and opens a new transaction on another
// producer. An empty transaction is not prepared (FLINK-31363): nothing to
// commit, no broker call.
func (t *transactions) prepare(ctx context.Context, id int64, flush func(context.Context) error) error {
	p := t.current
	if p.empty() {
		return nil
	}
	if err := flush(ctx); err != nil {
		return err
	}
	pid, epoch, err := p.cl.ProducerID(ctx)
	if err != nil {
		return err
	}
	next, err := t.take(ctx)
	if err != nil {
		return err
	}
	t.prepared = append(t.prepared, preparedTxn{Prepared{
		TransactionalID: p.id, ProducerID: pid, ProducerEpoch: epoch, CheckpointID: id, TransactionVersion: t.version,
	}, p})
	t.current = next
	t.stats.prepared.Add(1)
	if p.span != nil {
		attrs := append(producerAttrs(pid, epoch), connector.AttrCheckpointID.Int64(id))
		p.span.SetAttributes(attrs...)
		p.span.AddEvent("prepared", trace.WithAttributes(attrs...))
	}
	return nil
}

// state lists the prepared transactions not committed yet.
func (t *transactions) state() []Prepared {
	out := make([]Prepared, len(t.prepared))
	for i, p := range t.prepared {
		out[i] = p.Prepared
	}
	return out
}

// commit commits every prepared transaction of a checkpoint up to id, in
// order, and returns their producers to the pool.
func (t *transactions) commit(ctx context.Context, id int64) error {
	for len(t.prepared) > 0 && t.prepared[0].CheckpointID <= id {
		p := t.prepared[0]
		var err error
		if p.p.records == 0 {
			err = endRaw(ctx, p.p, p.ProducerID, p.ProducerEpoch, true)
		} else {
			err = p.p.cl.EndTransaction(ctx, kgo.TryCommit)
		}
		if err != nil {
			err = fmt.Errorf("committing transaction %s of checkpoint %d: %w", p.TransactionalID, p.CheckpointID, err)
			traceEnd(p.p, "failed", err)
			return err
		}
		traceEnd(p.p, "committed", nil)
		t.prepared = t.prepared[1:]
		t.stats.committed.Add(1)
		if t.version >= 2 && p.p.records > 0 {
			// The commit bumped the epoch: the next transaction of this
			// producer has a producer id and epoch of its own.
			t.idle[p.p.n] = p.p
		} else {
			// Under transaction version 1 the epoch stays; a new client
			// bumps it (InitProducerId), so that a stored id and epoch can
			// never commit a later transaction (FLINK-8132).
			p.p.cl.Close()
		}
		delete(t.inUse, p.p.n)
	}
	return nil
}

// close aborts the open transaction and closes every producer. Prepared
// transactions stay open on the broker for a commit after a restore.
func (t *transactions) close(ctx context.Context) {
	if p := t.current; p != nil {
		var err error
		switch {
		case p.records > 0:
			err = p.cl.EndTransaction(ctx, kgo.TryAbort)
		case p.offsetsAdded:
			var pid int64
			var epoch int16
			if pid, epoch, err = p.cl.ProducerID(ctx); err == nil {
				err = endRaw(ctx, p, pid, epoch, false)
			}
		}
		if err == nil && !p.empty() {
			t.stats.aborted.Add(1)
		}
		traceEnd(p, "aborted", err)
		p.cl.Close()
	}
	for _, p := range t.prepared {
		traceEnd(p.p, "left_prepared", nil)
		p.p.cl.Close()
	}
	for _, p := range t.idle {
		p.cl.Close()
	}
}

// transactionVersion asks the cluster for its finalized transaction.version
// feature, reporting 1 when it is absent or below 2.
func transactionVersion(ctx context.Context, cl *kgo.Client) int32 {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return 1
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" && f.MaxVersionLevel >= 2 {
			return int32(f.MaxVersionLevel)
		}
	}
	return 1
}

// retryConcurrent runs a transactional request until the coordinator stops
// answering CONCURRENT_TRANSACTIONS (a previous transaction is completing).
func retryConcurrent(ctx context.Context, do func() (int16, error)) error {
	for {
		code, err := do()
		if err != nil {
			return err
		}
		err = kerr.ErrorForCode(code)
		if !errors.Is(err, kerr.ConcurrentTransactions) {
			return err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// endRaw ends the transaction of p with a raw EndTxn. franz-go ends only
// transactions it produced records in; one holding only offsets is ended
// here, and its client is not reused.
func endRaw(ctx context.Context, p *txnProducer, pid int64, epoch int16, commit bool) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = p.id, pid, epoch, commit
	return retryConcurrent(ctx, func() (int16, error) {
		resp, err := req.RequestWith(ctx, p.cl)
		if err != nil {
			return 0, err
		}
		return resp.ErrorCode, nil
	})
}
