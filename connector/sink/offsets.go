package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumedOffset is the next offset to read of one source partition, to
// commit to a consumer group inside the sink's transaction.
type ConsumedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// AddOffsets commits source offsets for group inside the open transaction
// (EXACTLY_ONCE; Kafka's AddOffsetsToTxn + TxnOffsetCommit), so that they
// commit atomically with the records: a source that starts from the group's
// committed offsets with read_committed resumes exactly after the last
// committed transaction.
func (w *Writer) AddOffsets(ctx context.Context, group string, offsets []ConsumedOffset) error {
	if w.txn == nil {
		return errors.New("consumed offsets need EXACTLY_ONCE")
	}
	p := w.txn.current
	pid, epoch, err := p.cl.ProducerID(ctx)
	if err != nil {
		return err
	}
	if w.txn.version < 2 || !p.offsetsAdded {
		// Under transaction version 2, TxnOffsetCommit v5 adds the group to
		// the transaction by itself; AddOffsetsToTxn is still accepted.
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = p.id, pid, epoch, group
		if err := retryConcurrent(ctx, func() (int16, error) {
			resp, err := add.RequestWith(ctx, p.cl)
			if err != nil {
				return 0, err
			}
			return resp.ErrorCode, nil
		}); err != nil {
			return fmt.Errorf("adding the offsets of group %q to transaction %s: %w", group, p.id, err)
		}
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = p.id, group, pid, epoch
	req.Generation, req.MemberID = -1, ""
	byTopic := map[string]int{}
	for _, o := range offsets {
		i, ok := byTopic[o.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[o.Topic] = i
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic = o.Topic
			req.Topics = append(req.Topics, t)
		}
		pp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		pp.Partition, pp.Offset, pp.LeaderEpoch = o.Partition, o.Offset, -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, pp)
	}
	resp, err := req.RequestWith(ctx, p.cl)
	if err != nil {
		return fmt.Errorf("committing offsets of group %q in transaction %s: %w", group, p.id, err)
	}
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			if err := kerr.ErrorForCode(pp.ErrorCode); err != nil {
				return fmt.Errorf("committing the offset of %s/%d for group %q in transaction %s: %w", t.Topic, pp.Partition, group, p.id, err)
			}
		}
	}
	p.offsetsAdded = true
	return nil
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
