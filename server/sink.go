package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector/sink"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server/policy"
	"github.com/ferrykafka/ferry/sessions"
)

// sinkStream is one Write stream with its open session.
type sinkStream struct {
	srv    *Server
	ctx    context.Context
	stream ferryv1.SinkService_WriteServer
	sess   *sessions.Sink
	cfg    sink.Config

	log        *slog.Logger // carries the session id, principal and cluster
	unregister func()       // removes the session from the admin view

	principal string
	writable  map[string]bool // topics principal was allowed to write
	job       *jobBinding     // the job whose checkpoints ferry keeps, or nil
	lastSeq   int64           // the last batch's sequence; they increase
	batches   int64           // batches received
}

// Write serves a sink session; see the proto for the protocol.
func (s *Server) Write(stream ferryv1.SinkService_WriteServer) (err error) {
	ctx, span := s.startSession(stream.Context(), "sink")
	defer func() { endSession(span, err) }()
	w, err := openStream(stream.Recv, "Write", (*ferryv1.WriteRequest).GetOpen, writeKind,
		func(open *ferryv1.OpenSink) (*sinkStream, error) { return s.openSink(ctx, stream, open) })
	if err != nil {
		s.openRefused(ctx, "sink", err)
		return err
	}
	// Abort, not Close: a stream that ends without close must not commit
	// or flush what the client did not ask for.
	defer w.sess.Abort()
	defer w.unregister()
	return w.serve()
}

// openSink opens the session of an open message (under EXACTLY_ONCE this
// commits the restored transactions) and sends opened. ctx is the stream's,
// carrying the session's span.
func (s *Server) openSink(ctx context.Context, stream ferryv1.SinkService_WriteServer, open *ferryv1.OpenSink) (*sinkStream, error) {
	principal := principalOf(ctx)
	cfg, err := s.sinkSpec(open, principal)
	if err != nil {
		return nil, err
	}
	traceSink(ctx, cfg)
	if err := s.authorizeSink(principal, cfg); err != nil {
		return nil, err
	}
	spec, err := jobSpec(open.GetJob(), open.GetRestore() != nil)
	if err != nil {
		return nil, err
	}
	job, err := s.bindJob(ctx, spec, cfg.Cluster, principal, cfg.WriterIndex, cfg.Parallelism)
	if err != nil {
		return nil, jobStatus(err)
	}
	if err := restoreSinkFromJob(ctx, job, &cfg); err != nil {
		return nil, err
	}
	cfg.Hooks = append(cfg.Hooks, s.tel.KafkaTraceHooks(ctx, "")...)
	cfg.Hooks = append(cfg.Hooks, s.tel.KafkaHooks(cfg.Settings.ClientMetrics)...)
	sess, err := sessions.OpenSink(ctx, s.registry, cfg)
	if err != nil {
		return nil, err
	}
	traceOpened(ctx, sess.ID)
	if job != nil {
		if err := job.join(ctx, "sink", sess.ID); err != nil {
			sess.Abort()
			return nil, jobStatus(err)
		}
	}
	log := s.sessionLog(ctx, sess.ID, principal, cfg.Cluster, "default_topic", cfg.DefaultTopic, "transactional_id_prefix", cfg.TransactionalIDPrefix)
	s.logIgnored(ctx, log, cfg.Settings)
	if err := stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Opened{Opened: &ferryv1.SinkOpened{
		SessionId: sess.ID, RestoredTransactions: int32(len(cfg.Restore)),
		RestoredCheckpointId: job.restored(), RestoreNote: job.restoreNote(),
	}}}); err != nil {
		sess.Abort()
		return nil, err
	}
	return &sinkStream{srv: s, ctx: ctx, stream: stream, sess: sess, cfg: cfg, principal: principal, writable: make(map[string]bool),
		log: log, unregister: s.registerSink(ctx, principal, cfg, sess), job: job}, nil
}

// serve runs the session until the client closes or anything fails, handing
// each client message to handle.
func (w *sinkStream) serve() error {
	reqs, recvErr := receive(w.ctx, w.stream.Recv)
	for {
		select {
		case <-w.srv.stopping:
			return errShuttingDown
		case <-w.ctx.Done():
			return contextStatus(w.ctx)
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return status.Error(codes.FailedPrecondition, "the stream ended without close; unflushed records may not be written")
			}
			return recvStatus(err)
		case req := <-reqs:
			if done, err := w.handle(req); done || err != nil {
				return err
			}
		case id := <-w.job.Completed():
			if err := w.onJobCompleted(id); err != nil {
				return err
			}
		case <-w.sess.Failed():
			// Kafka refused a record or did not acknowledge one within
			// delivery.timeout.ms: end the stream now, not at the next
			// message.
			return toStatus(w.sess.Err())
		}
	}
}

// handle hands one client message after open to its method; done ends the
// stream (with err).
func (w *sinkStream) handle(req *ferryv1.WriteRequest) (done bool, err error) {
	switch k := req.GetKind().(type) {
	case *ferryv1.WriteRequest_Open:
		return true, errAlreadyOpen
	case *ferryv1.WriteRequest_Records:
		return w.onRecords(k.Records)
	case *ferryv1.WriteRequest_Checkpoint:
		return w.onCheckpoint(k.Checkpoint)
	case *ferryv1.WriteRequest_Commit:
		return w.onCommit(k.Commit)
	case *ferryv1.WriteRequest_Close:
		return true, w.onClose()
	}
	return true, errNoKind
}

// onRecords hands a batch to the writer, and under EXACTLY_ONCE the source
// offsets it consumed to the open transaction. Nothing is answered: Kafka's
// acknowledgements are reported at the next checkpoint or close.
func (w *sinkStream) onRecords(b *ferryv1.WriteBatch) (bool, error) {
	if err := positiveIDSpec(fmt.Sprintf("records.sequence (batch %d of the stream)", w.batches+1), b.GetSequence()); err != nil {
		return true, toStatus(err)
	}
	if b.GetSequence() <= w.lastSeq {
		return true, toStatus(&sessions.OrderError{Message: "records", Rule: fmt.Sprintf("batch sequences must increase: got %d after %d", b.GetSequence(), w.lastSeq)})
	}
	w.lastSeq = b.GetSequence()
	w.batches++
	recs, err := sinkRecords(b, w.cfg.DefaultTopic)
	if err != nil {
		return true, toStatus(err)
	}
	if err := w.srv.authorizeRecords(w.principal, w.writable, recs, b.GetSequence()); err != nil {
		return true, toStatus(err)
	}
	group, offsets, err := consumedOffsetsSpec(b, w.cfg.Guarantee)
	if err != nil {
		return true, toStatus(err)
	}
	if offsets != nil {
		if err := w.srv.check(w.principal, policy.UseGroup, group); err != nil {
			return true, toStatus(fmt.Errorf("records.consumed_offsets (batch sequence %d): %w", b.GetSequence(), err))
		}
	}
	if err := w.sess.Write(w.ctx, b.GetSequence(), recs); err != nil {
		return true, toStatus(err)
	}
	if offsets != nil {
		if err := w.sess.AddOffsets(w.ctx, group, offsets); err != nil {
			return true, toStatus(err)
		}
	}
	return false, nil
}

// onCheckpoint answers flushed (NONE, AT_LEAST_ONCE) or prepared
// (EXACTLY_ONCE) once the writer has done what the guarantee asks.
func (w *sinkStream) onCheckpoint(c *ferryv1.Checkpoint) (bool, error) {
	id := c.GetCheckpointId()
	if err := positiveIDSpec("checkpoint.checkpoint_id", id); err != nil {
		return true, toStatus(err)
	}
	res, err := w.sess.Checkpoint(w.ctx, id)
	if err != nil {
		return true, toStatus(err)
	}
	resp := &ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Flushed{Flushed: &ferryv1.CheckpointFlushed{
		CheckpointId: id, RecordsWritten: res.Written,
	}}}
	if w.cfg.Guarantee == sink.ExactlyOnce {
		resp = &ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Prepared{Prepared: &ferryv1.Prepared{
			CheckpointId: id, State: sinkStateMessage(res.Prepared),
		}}}
	}
	if w.job != nil {
		// Stored, acknowledged by Kafka, before the checkpoint is answered:
		// a completion may then rely on it, and a restore commits it.
		if err := w.job.put(w.ctx, "sink", w.sess.ID, id, sinkStateMessage(res.Prepared)); err != nil {
			return true, jobStatus(err)
		}
	}
	return false, w.stream.Send(resp)
}

// onJobCompleted commits, under EXACTLY_ONCE, the prepared transactions up
// to a checkpoint of the session's job that completed (through any ferry),
// and answers committed. A checkpoint this session did not take (it opened
// later: the restore committed it) has nothing to commit.
func (w *sinkStream) onJobCompleted(id int64) error {
	if w.cfg.Guarantee != sink.ExactlyOnce {
		return nil
	}
	var order *sessions.OrderError
	if err := w.sess.Commit(w.ctx, id); err != nil {
		if errors.As(err, &order) {
			return nil
		}
		return toStatus(err)
	}
	return w.stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Committed{Committed: &ferryv1.TransactionsCommitted{CheckpointId: id}}})
}

// onCommit commits the prepared transactions up to a checkpoint.
func (w *sinkStream) onCommit(c *ferryv1.CommitCheckpoint) (bool, error) {
	id := c.GetCheckpointId()
	if err := positiveIDSpec("commit.checkpoint_id", id); err != nil {
		return true, toStatus(err)
	}
	if w.job != nil {
		return true, refuseClientCompletion("commit")
	}
	if err := w.sess.Commit(w.ctx, id); err != nil {
		return true, toStatus(err)
	}
	return false, w.stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Committed{Committed: &ferryv1.TransactionsCommitted{CheckpointId: id}}})
}

// onClose flushes (NONE, AT_LEAST_ONCE) and answers closed with the records
// Kafka acknowledged; under EXACTLY_ONCE prepared transactions stay for a
// commit after a restore.
func (w *sinkStream) onClose() error {
	written, err := w.sess.Close(w.ctx)
	if err != nil {
		return toStatus(err)
	}
	return w.stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Closed{Closed: &ferryv1.SinkClosed{RecordsWritten: written}}})
}

// writeKind names a client message for errors.
func writeKind(r *ferryv1.WriteRequest) string {
	switch r.GetKind().(type) {
	case *ferryv1.WriteRequest_Records:
		return "records"
	case *ferryv1.WriteRequest_Checkpoint:
		return "checkpoint"
	case *ferryv1.WriteRequest_Commit:
		return "commit"
	case *ferryv1.WriteRequest_Close:
		return "close"
	}
	return "a message without kind"
}

// sinkStateMessage is the wire form of prepared transactions.
func sinkStateMessage(ps []sink.Prepared) *ferryv1.SinkState {
	st := &ferryv1.SinkState{Transactions: make([]*ferryv1.PreparedTransaction, len(ps))}
	for i, p := range ps {
		st.Transactions[i] = &ferryv1.PreparedTransaction{
			TransactionalId: p.TransactionalID, ProducerId: p.ProducerID, ProducerEpoch: int32(p.ProducerEpoch),
			CheckpointId: p.CheckpointID, TransactionVersion: p.TransactionVersion,
		}
	}
	return st
}
