package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector"
)

// ConsumedOffset is the next offset to read of one source partition, to
// commit to a consumer group inside the sink's transaction.
type ConsumedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// AddOffsets commits source offsets for group inside the open transaction
// (Kafka's AddOffsetsToTxn + TxnOffsetCommit), so that they commit
// atomically with the records: a source that starts from the group's
// committed offsets with read_committed resumes exactly after the last
// committed transaction, and an aborted transaction takes its offsets with
// it, so no record is lost or written twice.
//
// A refusal by Kafka returns an error that wraps the *kerr.Error (the
// server maps it by its code: e.g. PERMISSION_DENIED for a group the
// principal may not commit, ABORTED for a fenced producer); a request
// without an answer (within the delivery timeout) returns a
// *connector.UnavailableError.
func (w *ExactlyOnceWriter) AddOffsets(ctx context.Context, group string, offsets []ConsumedOffset) error {
	return w.request(ctx, fmt.Sprintf("adding the offsets of group %q to the transaction", group), func(rctx context.Context) error {
		return w.addOffsets(rctx, group, offsets)
	})
}

func (w *ExactlyOnceWriter) addOffsets(ctx context.Context, group string, offsets []ConsumedOffset) error {
	p := w.txn.current
	w.txn.traceBegin(ctx, p)
	pid, epoch, err := p.cl.ProducerID(ctx)
	if err != nil {
		return kafkaErr(fmt.Sprintf("adding the offsets of group %q to transaction %s", group, p.id), err)
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
			return kafkaErr(fmt.Sprintf("adding the offsets of group %q to transaction %s", group, p.id), err)
		}
	}
	resp, err := txnOffsetCommit(p.id, group, pid, epoch, offsets).RequestWith(ctx, p.cl)
	if err != nil {
		return kafkaErr(fmt.Sprintf("committing offsets of group %q in transaction %s", group, p.id), err)
	}
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			if err := kerr.ErrorForCode(pp.ErrorCode); err != nil {
				return kafkaErr(fmt.Sprintf("committing the offset of %s/%d for group %q in transaction %s", t.Topic, pp.Partition, group, p.id), err)
			}
		}
	}
	p.offsetsAdded = true
	p.span.AddEvent("offsets_added", trace.WithAttributes(connector.AttrGroup.String(group)))
	return nil
}

// txnOffsetCommit is the TxnOffsetCommit request of offsets for group in
// transaction id, one entry a topic in the order of offsets. Generation -1
// and no member id: the sink is no member of the source's group.
func txnOffsetCommit(id, group string, pid int64, epoch int16, offsets []ConsumedOffset) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = id, group, pid, epoch
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
	return req
}

// kafkaErr wraps the error of op so that the server can map it to a status:
// a Kafka error code stays in the chain (its status follows the code), a
// context's error passes as it is, and any other error means the request
// got no answer: a *connector.UnavailableError.
func kafkaErr(op string, err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return &connector.UnavailableError{Op: op, Err: err}
}
