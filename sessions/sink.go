package sessions

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector/sink"
)

// Sink is a sink session: a writer and checkpoint bookkeeping. Only the
// goroutine that serves the session calls its methods. What a checkpoint,
// a commit or a close does under each delivery guarantee is the writer's
// (sink.Writer and its two modes); the session keeps the registry entry and
// the order of checkpoint ids.
type Sink struct {
	sinkViews
	ID string

	writer      sink.Writer
	release     func()
	closeOnce   sync.Once
	checkpoints Checkpoints
	spans       checkpointSpans
}

// OpenSink registers a session in reg and opens its writer (which, under
// EXACTLY_ONCE, first commits cfg.Restore).
func OpenSink(ctx context.Context, reg *Registry, cfg sink.Config) (*Sink, error) {
	id, release, err := reg.Acquire(Claim{Kind: "sink", Owner: OwnerOf(ctx), Bytes: SinkMemory(cfg.Settings)})
	if err != nil {
		return nil, err
	}
	cfg.ClientID = clientID(cfg.Settings, id)
	w, err := sink.Open(ctx, cfg)
	if err != nil {
		release()
		return nil, err
	}
	s := &Sink{ID: id, writer: w, release: release, spans: newCheckpointSpans(ctx, id)}
	s.publishView()
	return s, nil
}

// Write writes the records of batch seq; see sink.Writer.
func (s *Sink) Write(ctx context.Context, seq int64, recs []*kgo.Record) error {
	return s.writer.Write(ctx, seq, recs)
}

// AddOffsets commits consumed source offsets inside the open transaction
// (EXACTLY_ONCE); see sink.Writer. Under another guarantee it returns a
// *connector.InvalidError.
func (s *Sink) AddOffsets(ctx context.Context, group string, offsets []sink.ConsumedOffset) error {
	return s.writer.AddOffsets(ctx, group, offsets)
}

// Failed is closed when the writer failed on its own, between client
// messages: Kafka refused a record, or did not acknowledge one within
// delivery.timeout.ms. Err says why.
func (s *Sink) Failed() <-chan struct{} { return s.writer.Failed() }

// Err returns the error the writer failed with, or nil.
func (s *Sink) Err() error { return s.writer.Err() }

// CheckpointResult is the answer to a checkpoint.
type CheckpointResult struct {
	// Written counts the records Kafka acknowledged so far.
	Written int64
	// Prepared lists, under EXACTLY_ONCE, every prepared transaction not
	// committed yet, this checkpoint's included (if it had records).
	Prepared []sink.Prepared
}

// Checkpoint takes checkpoint id: under NONE it answers at once, under
// AT_LEAST_ONCE it first waits until Kafka acknowledged every record, under
// EXACTLY_ONCE it pre-commits the open transaction (see
// sink.Writer.Checkpoint). It returns an *OrderError when id does not
// increase, or the writer's error.
func (s *Sink) Checkpoint(ctx context.Context, id int64) (CheckpointResult, error) {
	if err := s.checkpoints.Begin(id); err != nil {
		return CheckpointResult{}, err
	}
	span := s.spans.begin(id)
	prepared, err := s.writer.Checkpoint(ctx, id)
	s.traceCheckpoint(span, id, prepared, err)
	s.lastMark = CheckpointMark{ID: id, At: time.Now()}
	s.publishView()
	return CheckpointResult{Written: s.writer.Written(), Prepared: prepared}, err
}

// Commit commits the prepared transactions of checkpoints up to id
// (EXACTLY_ONCE; see sink.ExactlyOnceWriter.Commit). It returns an
// *OrderError for a writer of another guarantee (checked first) or a
// checkpoint never taken.
//
// Which writers have transactions is the sink's rule (sink.Transactional);
// which checkpoints were taken is this session's bookkeeping, so that check
// stays here. The sink cannot return an *OrderError itself (connector does
// not import sessions), so its sink.ErrNoTransactions becomes one here.
func (s *Sink) Commit(ctx context.Context, id int64) error {
	w, err := sink.Transactional(s.writer)
	if err != nil {
		return &OrderError{Message: "commit", Rule: err.Error()}
	}
	if !s.checkpoints.Taken(id) {
		return &OrderError{Message: "commit", Rule: fmt.Sprintf("checkpoint %d was never taken in this session", id)}
	}
	defer s.publishView()
	err = w.Commit(ctx, id)
	// Every prepared transaction up to id is committed: so is every
	// checkpoint up to id.
	s.spans.end(id, outcomeCommitted, outcomeCommitted, err)
	return err
}

// traceCheckpoint records on the span of checkpoint id what taking it did:
// under NONE and AT_LEAST_ONCE the checkpoint is done (flushed) and its span
// ends; under EXACTLY_ONCE the span names the transaction it prepared and
// ends when Commit commits it.
func (s *Sink) traceCheckpoint(span trace.Span, id int64, prepared []sink.Prepared, err error) {
	if _, noTxn := sink.Transactional(s.writer); err != nil || noTxn != nil {
		s.spans.endLatest(outcomeFlushed, err)
		return
	}
	var ids []string
	for _, p := range prepared {
		if p.CheckpointID == id {
			ids = append(ids, p.TransactionalID)
		}
	}
	span.SetAttributes(attrTransactionalIDs.StringSlice(ids))
}

// Close finishes and closes the writer and releases the session. It
// returns the number of records Kafka acknowledged, or the first record
// error. NONE and AT_LEAST_ONCE flush first; under EXACTLY_ONCE the open
// transaction is aborted and prepared ones are left for a commit after a
// restore (see sink.Writer.Finish and Close).
func (s *Sink) Close(ctx context.Context) (int64, error) {
	defer s.Abort()
	if err := s.writer.Finish(ctx); err != nil {
		return 0, err
	}
	return s.writer.Written(), nil
}

// Abort closes the writer without flushing and releases the session. It is
// safe to call after Close.
func (s *Sink) Abort() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		s.writer.Close(ctx)
		s.spans.endAll(outcomeNotCompleted)
		s.release()
	})
}
