package server

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// maxBatchBytes and maxBatchRecords bound one RecordBatch message: small
// enough that a barrier waits behind one message only briefly and that
// messages stay well below gRPC's default 4 MiB receive limit of clients,
// large enough that framing costs little per record.
const (
	maxBatchBytes   = 256 << 10
	maxBatchRecords = 1000
)

// sourceStream is one Read stream with its open session.
type sourceStream struct {
	srv    *Server
	ctx    context.Context
	stream ferryv1.SourceService_ReadServer
	sess   *sessions.Source
	reqs   <-chan *ferryv1.ReadRequest

	log        *slog.Logger // carries the session id, principal and cluster
	unregister func()       // removes the session from the admin view
	commitErr  bool         // the last offset commit failed (logged once per change)
	job        *jobBinding  // the job whose checkpoints ferry keeps, or nil
}

// Read serves a source session; see the proto for the protocol.
func (s *Server) Read(stream ferryv1.SourceService_ReadServer) (err error) {
	ctx, span := s.startSession(stream.Context(), "source")
	defer func() { endSession(span, err) }()
	r, err := openStream(stream.Recv, "Read", (*ferryv1.ReadRequest).GetOpen, readKind,
		func(open *ferryv1.OpenSource) (*sourceStream, error) { return s.openSource(ctx, stream, open) })
	if err != nil {
		s.openRefused(ctx, "source", err)
		return err
	}
	defer r.sess.Close()
	defer r.unregister()
	return r.serve()
}

// openSource opens the session of an open message and sends opened, then
// SplitFinished for every split that has nothing to read. ctx is the
// stream's, carrying the session's span.
func (s *Server) openSource(ctx context.Context, stream ferryv1.SourceService_ReadServer, open *ferryv1.OpenSource) (*sourceStream, error) {
	principal := principalOf(ctx)
	cfg, opts, err := s.sourceSpec(open, principal)
	if err != nil {
		return nil, err
	}
	traceSource(ctx, cfg)
	if err := s.authorizeSource(principal, &cfg); err != nil {
		return nil, err
	}
	spec, err := jobSpec(open.GetJob(), open.GetRestore() != nil)
	if err != nil {
		return nil, err
	}
	job, err := s.bindJob(ctx, spec, cfg.Cluster, principal, cfg.ReaderIndex, cfg.Parallelism)
	if err != nil {
		return nil, jobStatus(err)
	}
	if err := restoreSourceFromJob(ctx, job, &cfg); err != nil {
		return nil, err
	}
	cfg.Hooks = append(cfg.Hooks, s.tel.KafkaTraceHooks(ctx, cfg.GroupID)...)
	cfg.Hooks = append(cfg.Hooks, s.tel.KafkaHooks(cfg.Settings.ClientMetrics)...)
	sess, err := sessions.OpenSource(ctx, s.registry, cfg, opts)
	if err != nil {
		return nil, err
	}
	traceOpened(ctx, sess.ID)
	if job != nil {
		if err := job.join(ctx, "source", sess.ID); err != nil {
			sess.Close()
			return nil, jobStatus(err)
		}
	}
	log := s.sessionLog(ctx, sess.ID, principal, cfg.Cluster, "subscription", subscription(cfg), "group", cfg.GroupID)
	s.logIgnored(ctx, log, cfg.Settings)
	r := &sourceStream{srv: s, ctx: ctx, stream: stream, sess: sess, log: log, unregister: s.registerSource(ctx, principal, cfg, sess), job: job}
	if err := r.sendOpened(cfg.Bounded); err != nil {
		r.unregister()
		sess.Close()
		return nil, err
	}
	return r, nil
}

func (r *sourceStream) sendOpened(bounded bool) error {
	if err := r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Opened{Opened: &ferryv1.SourceOpened{
		SessionId:            r.sess.ID,
		Bounded:              bounded,
		Splits:               splitsMessage(r.sess.Splits()),
		CommitOffsets:        r.sess.CommitsEnabled(),
		CommitDisabledReason: r.sess.CommitReason,
		RestoredCheckpointId: r.job.restored(),
		RestoreNote:          r.job.restoreNote(),
	}}}); err != nil {
		return err
	}
	var empty []source.Split
	for _, sp := range r.sess.Splits() {
		if sp.FinishedAtStart() {
			empty = append(empty, sp)
		}
	}
	return r.sendFinished(empty)
}

// serve runs the session until the input ends, the client closes or
// anything fails: it hands client messages to handle and sends what the
// session's fetch loop, committer and idleness timer produce.
func (r *sourceStream) serve() error {
	reqs, recvErr := receive(r.ctx, r.stream.Recv)
	r.reqs = reqs
	for {
		if r.sess.Finished() {
			return r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_EndOfInput{EndOfInput: &ferryv1.EndOfInput{}}})
		}
		select {
		case <-r.srv.stopping:
			return errShuttingDown
		case <-r.ctx.Done():
			return contextStatus(r.ctx)
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				// The client half-closed (grpcurl does after its last
				// message): keep sending until the input ends.
				recvErr = nil
				continue
			}
			return recvStatus(err)
		case req := <-reqs:
			if done, err := r.handle(req); done || err != nil {
				return err
			}
		case p := <-r.sess.Polled():
			if p.Err != nil {
				return toStatus(p.Err)
			}
			if done, err := r.deliver(p.Batch); done || err != nil {
				return err
			}
		case c := <-r.sess.Commits():
			if err := r.sendCommitted(c); err != nil {
				return err
			}
		case id := <-r.job.Completed():
			// The job's checkpoint completed (through any ferry): commit
			// its offsets as a checkpoint_complete would. A checkpoint this
			// session did not take (it opened later) has nothing to commit.
			var order *sessions.OrderError
			if err := r.sess.CheckpointComplete(r.ctx, id); err != nil && !errors.As(err, &order) {
				return toStatus(err)
			}
		case <-r.sess.AutoCommits():
			r.sess.AutoCommit(r.ctx)
		case now := <-r.sess.IdleTicks():
			if err := r.sendWatermark(r.sess.Watermark(now)); err != nil {
				return err
			}
		case now := <-r.sess.KafkaStatusTicks():
			if err := r.sendKafkaStatus(r.sess.KafkaStatus(now)); err != nil {
				return err
			}
		}
	}
}

// handle hands one client message after open to its method; done ends the
// stream (with err).
func (r *sourceStream) handle(req *ferryv1.ReadRequest) (done bool, err error) {
	switch k := req.GetKind().(type) {
	case *ferryv1.ReadRequest_Open:
		return true, errAlreadyOpen
	case *ferryv1.ReadRequest_Checkpoint:
		return r.onCheckpoint(k.Checkpoint)
	case *ferryv1.ReadRequest_CheckpointComplete:
		return r.onCheckpointComplete(k.CheckpointComplete)
	case *ferryv1.ReadRequest_Close:
		return true, nil
	}
	return true, errNoKind
}

// onCheckpoint answers a barrier with the state of every split: what was
// sent before it, so that a restore resumes right after it.
func (r *sourceStream) onCheckpoint(c *ferryv1.Checkpoint) (bool, error) {
	if err := positiveIDSpec("checkpoint.checkpoint_id", c.GetCheckpointId()); err != nil {
		return true, toStatus(err)
	}
	states, err := r.sess.Checkpoint(c.GetCheckpointId())
	if err != nil {
		return true, toStatus(err)
	}
	state := &ferryv1.SourceState{Splits: splitStatesMessage(states)}
	if r.job != nil {
		// Stored, acknowledged by Kafka, before the barrier is answered: a
		// completion of this checkpoint may then rely on it.
		if err := r.job.put(r.ctx, "source", r.sess.ID, c.GetCheckpointId(), state); err != nil {
			return true, jobStatus(err)
		}
	}
	return false, r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Barrier{Barrier: &ferryv1.Barrier{
		CheckpointId: c.GetCheckpointId(),
		State:        state,
	}}})
}

// onCheckpointComplete queues the commit of a completed checkpoint's
// offsets; its outcome arrives later as committed.
func (r *sourceStream) onCheckpointComplete(c *ferryv1.CheckpointComplete) (bool, error) {
	if err := positiveIDSpec("checkpoint_complete.checkpoint_id", c.GetCheckpointId()); err != nil {
		return true, toStatus(err)
	}
	if r.job != nil {
		return true, refuseClientCompletion("checkpoint_complete")
	}
	if err := r.sess.CheckpointComplete(r.ctx, c.GetCheckpointId()); err != nil {
		return true, toStatus(err)
	}
	return false, nil
}

// sendCommitted reports the outcome of a checkpoint's offset commit. A
// failed commit is logged and reported, never fatal: as in Flink, the
// committed offsets only expose progress, the checkpoint holds the truth.
func (r *sourceStream) sendCommitted(c sessions.CommitResult) error {
	// Logged once per change of state, not per checkpoint: a group whose
	// commits keep failing would otherwise log every 200 ms.
	switch {
	case c.Err != nil && !r.commitErr:
		r.log.Warn("offset commits failing; the session goes on (the checkpoint holds the positions)", "checkpoint", c.CheckpointID, "failed_commits", c.Failed, "err", c.Err)
	case c.Err == nil && r.commitErr:
		r.log.Info("offset commits succeed again", "checkpoint", c.CheckpointID, "failed_commits", c.Failed)
	}
	r.commitErr = c.Err != nil
	if c.CheckpointID == 0 {
		return nil // a periodic auto-commit: logged, not reported
	}
	msg := &ferryv1.OffsetsCommitted{CheckpointId: c.CheckpointID, FailedCommits: c.Failed}
	if c.Err != nil {
		msg.Error = c.Err.Error()
	}
	return r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Committed{Committed: msg}})
}

// sendKafkaStatus tells the client, and the log, that Kafka became
// unavailable to the reader or available again; nil sends nothing.
func (r *sourceStream) sendKafkaStatus(st *sessions.KafkaStatus) error {
	if st == nil {
		return nil
	}
	if st.Available {
		r.log.Info("kafka available to the source again")
	} else {
		r.log.Warn("kafka unavailable to the source; it keeps retrying", "since", st.Since, "reason", st.Reason)
	}
	return r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_KafkaStatus{KafkaStatus: &ferryv1.KafkaStatus{
		Available: st.Available, Error: st.Reason, SinceMs: st.Since.UnixMilli(),
	}}})
}

// sendWatermark sends the watermark and idleness changes of ev.
func (r *sourceStream) sendWatermark(ev sessions.WatermarkEvent) error {
	if ev.Idle != nil && !*ev.Idle && ev.Watermark == nil {
		return nil // leaving idleness is shown by the next watermark
	}
	if ev.Watermark != nil {
		if err := r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Watermark{Watermark: &ferryv1.Watermark{TimestampMs: *ev.Watermark}}}); err != nil {
			return err
		}
	}
	if ev.Idle != nil && *ev.Idle {
		return r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Idle{Idle: &ferryv1.Idle{}}})
	}
	return nil
}

// deliver sends a polled batch: SplitsAdded, the records in messages of at
// most maxBatchBytes, SplitFinished for finished splits, and the watermark.
// Between record messages it serves client messages that arrived, so that a
// barrier waits for one message at most, not for the whole batch; the state
// it records is exact because positions move with every message sent. done
// means the stream must end (with err).
func (r *sourceStream) deliver(b source.Batch) (done bool, err error) {
	r.sess.BeginBatch(b)
	if len(b.Added) > 0 {
		if err := r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_SplitsAdded{SplitsAdded: &ferryv1.SplitsAdded{
			Splits: splitsMessage(b.Added),
		}}}); err != nil {
			return true, err
		}
	}
	for recs := b.Records; len(recs) > 0; {
		n := chunk(recs, maxBatchBytes)
		if err := r.stream.SendMsg(&recordsMessage{recs: recs[:n]}); err != nil {
			return true, err
		}
		r.sess.DeliveredRecords(recs[:n])
		recs = recs[n:]
		for pending := true; pending && len(recs) > 0; {
			select {
			case req := <-r.reqs:
				if done, err := r.handle(req); done || err != nil {
					return true, err
				}
			default:
				pending = false
			}
		}
	}
	if err := r.sendFinished(b.Finished); err != nil {
		return true, err
	}
	return false, r.sendWatermark(r.sess.EndBatch(b))
}

func (r *sourceStream) sendFinished(finished []source.Split) error {
	for _, f := range finished {
		if err := r.stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_SplitFinished{SplitFinished: &ferryv1.SplitFinished{
			Topic: f.Topic, Partition: f.Partition, StoppingOffset: f.Stop,
		}}}); err != nil {
			return err
		}
	}
	return nil
}

// splitsMessage is the wire form of splits that have not emitted anything
// yet: their next offset is their start.
func splitsMessage(splits []source.Split) []*ferryv1.SplitState {
	out := make([]*ferryv1.SplitState, len(splits))
	for i, sp := range splits {
		out[i] = splitStateMessage(sp.TopicPartition, sp.Start, sp.Stop)
	}
	return out
}

// splitStatesMessage is the wire form of a barrier's split states.
func splitStatesMessage(states []source.SplitState) []*ferryv1.SplitState {
	out := make([]*ferryv1.SplitState, len(states))
	for i, st := range states {
		out[i] = splitStateMessage(st.TopicPartition, st.Next, st.Stop)
	}
	return out
}

func splitStateMessage(tp source.TopicPartition, next, stop int64) *ferryv1.SplitState {
	st := &ferryv1.SplitState{Topic: tp.Topic, Partition: tp.Partition, NextOffset: next}
	if stop != source.NoStop {
		st.StoppingOffset = &stop
	}
	return st
}

// readKind names a client message for errors.
func readKind(r *ferryv1.ReadRequest) string {
	switch r.GetKind().(type) {
	case *ferryv1.ReadRequest_Checkpoint:
		return "checkpoint"
	case *ferryv1.ReadRequest_CheckpointComplete:
		return "checkpoint_complete"
	case *ferryv1.ReadRequest_Close:
		return "close"
	}
	return "a message without kind"
}
