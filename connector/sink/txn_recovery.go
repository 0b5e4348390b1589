package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferrykafka/ferry/connector"
)

// DataLossError is returned when a prepared transaction of a restore state can
// no longer be committed: the broker aborted it (its timeout expired) or
// forgot it.
type DataLossError struct {
	CheckpointID    int64
	TransactionalID string
	Reason          string
}

func (e *DataLossError) Error() string {
	return fmt.Sprintf("the transaction %s of checkpoint %d cannot be committed: %s", e.TransactionalID, e.CheckpointID, e.Reason)
}

// recoverCommit commits a prepared transaction of a restore state with a raw
// EndTxn to its coordinator, using the stored producer id and epoch, before
// anything initialises that transactional id again. A transaction that is
// already committed counts as success; one the broker aborted is a
// *DataLossError.
func recoverCommit(ctx context.Context, cl *kgo.Client, p Prepared) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = p.TransactionalID, p.ProducerID, p.ProducerEpoch, true
	// CONCURRENT_TRANSACTIONS means an earlier end of this transaction is
	// completing: ask again, then decide on the final answer.
	endErr := retryConcurrent(ctx, func() (int16, error) {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, &connector.UnavailableError{Op: "committing " + p.TransactionalID, Err: err}
		}
		return resp.ErrorCode, nil
	})
	if endErr == nil {
		return nil
	}
	if _, isKafka := endErr.(*kerr.Error); !isKafka {
		return endErr // unreachable or cancelled: nothing is known yet
	}
	// The EndTxn was refused: find out what became of the transaction.
	described, err := kadm.NewClient(cl).DescribeTransactions(ctx, p.TransactionalID)
	if err != nil {
		return &connector.UnavailableError{Op: "describing " + p.TransactionalID, Err: err}
	}
	d, ok := described[p.TransactionalID]
	if !ok || errors.Is(d.Err, kerr.TransactionalIDNotFound) {
		return &DataLossError{p.CheckpointID, p.TransactionalID, "the broker no longer knows the transactional id (it expired)"}
	}
	if d.Err != nil {
		return &connector.UnavailableError{Op: "describing " + p.TransactionalID, Err: d.Err}
	}
	if d.ProducerID != p.ProducerID {
		// A new producer id: the epoch rolled over at a commit (KIP-890) or
		// the id was initialised again, which ferry does only after the
		// transaction committed.
		return nil
	}
	switch {
	case d.State == "CompleteCommit" || d.State == "PrepareCommit":
		return nil // committed before (a restore of the same checkpoint twice, FLINK-8086)
	case (d.State == "CompleteAbort" || d.State == "PrepareAbort") && d.ProducerEpoch <= p.ProducerEpoch+1:
		return &DataLossError{p.CheckpointID, p.TransactionalID, fmt.Sprintf("the broker aborted it (state %s; was transaction.timeout.ms shorter than the time to commit?)", d.State)}
	case d.ProducerEpoch > p.ProducerEpoch:
		// The producer moved on to later transactions, which it does only
		// after this one committed; the EndTxn with the old epoch was refused
		// and committed nothing newer (FLINK-8132).
		return nil
	}
	return fmt.Errorf("committing %s of checkpoint %d: EndTxn refused (%w) while the transaction is %s at epoch %d", p.TransactionalID, p.CheckpointID, endErr, d.State, d.ProducerEpoch)
}

// abortLingering aborts, by fencing, every open transaction of the writers
// this one stands for and returns how many it aborted: {prefix}-{j}-* for
// every j with j % parallelism == index, as Flink's writer owns the subtask
// ids congruent to its own. At the same parallelism that is its own; after
// the writer count shrank, the writers left also take the transactions of
// the indexes that are gone, which no writer would open again. Call it
// after the restore state's transactions were committed: what is still
// open was left by an earlier run and would block read_committed readers
// until it times out (FLINK-40626).
//
// It follows Flink's LISTING abort strategy (TransactionAbortStrategyImpl
// .LISTING, which Flink pairs with pooled transactional ids): list the open
// transactions (ListTransactions), keep those whose id has this writer's
// prefix, and fence each with InitProducerId. It does not follow PROBING,
// which initialises {prefix}-{index}-0, -1, ... in turn and stops at the
// first id the broker reports as never used (epoch 0): that is sound only
// when the ids of earlier runs form one unbroken run counted up from 0.
// Pooled ids (the lowest free n, reused) do not: which n a run used
// depends on how many transactions it had open at once, and the broker
// forgets ids idle longer than transactional.id.expiration.ms, so probing
// could stop at a gap below a lingering id and leave it blocking readers.
// Listing finds every open transaction of this writer whatever its n, and
// fences nothing else.
func abortLingering(ctx context.Context, cl *kgo.Client, prefix string, index, parallelism int, timeout time.Duration) (aborted int, err error) {
	adm := kadm.NewClient(cl)
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing", "PrepareAbort", "PrepareCommit"})
	if err != nil {
		return 0, &connector.UnavailableError{Op: "listing transactions", Err: err}
	}
	for _, tx := range listed.Sorted() {
		if !ownsTransaction(tx.TxnID, prefix, index, parallelism) {
			continue
		}
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &tx.TxnID
		req.TransactionTimeoutMillis = int32(timeout / time.Millisecond)
		req.ProducerID, req.ProducerEpoch = -1, -1
		// CONCURRENT_TRANSACTIONS means the abort is under way: ask again.
		err := retryConcurrent(ctx, func() (int16, error) {
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return 0, &connector.UnavailableError{Op: "aborting lingering transaction " + tx.TxnID, Err: err}
			}
			return resp.ErrorCode, nil
		})
		if _, isKafka := err.(*kerr.Error); isKafka {
			return aborted, fmt.Errorf("aborting lingering transaction %s: %w", tx.TxnID, err)
		}
		if err != nil {
			return aborted, err
		}
		aborted++
	}
	return aborted, nil
}

// ownsTransaction reports whether the writer index of parallelism writers
// stands for the transactional id txnID, which is {prefix}-{j}-{n} of the
// writer j: when j % parallelism == index (j == index when parallelism is
// below 1). Ids of other shapes are not ferry's, and not owned.
func ownsTransaction(txnID, prefix string, index, parallelism int) bool {
	rest, ok := strings.CutPrefix(txnID, prefix+"-")
	if !ok {
		return false
	}
	j, n, ok := strings.Cut(rest, "-")
	if !ok || !isDigits(j) || !isDigits(n) {
		return false
	}
	writer, err := strconv.Atoi(j)
	if err != nil {
		return false // out of range
	}
	if parallelism < 1 {
		return writer == index
	}
	return writer%parallelism == index
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
