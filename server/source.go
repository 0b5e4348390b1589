package server

import (
	"context"
	"errors"
	"io"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// maxBatchBytes and maxBatchRecords bound one RecordBatch message.
const (
	maxBatchBytes   = 256 << 10
	maxBatchRecords = 1000
)

// Read serves a source session; see the proto for the protocol.
func (s *Server) Read(stream ferryv1.SourceService_ReadServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return recvStatus(err)
	}
	open := first.GetOpen()
	if open == nil {
		return status.Errorf(codes.FailedPrecondition, "%s before open: the first message on a Read stream must be open", readKind(first))
	}
	cfg, err := s.sourceConfig(open)
	if err != nil {
		return toStatus(err)
	}
	opts, err := sourceOptions(open.GetSpec(), cfg)
	if err != nil {
		return toStatus(err)
	}
	sess, err := sessions.OpenSource(ctx, s.registry, cfg, opts)
	if err != nil {
		return toStatus(specField(err))
	}
	defer sess.Close()
	s.logIgnored(ctx, sess.ID, cfg.Settings)
	if err := stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Opened{Opened: &ferryv1.SourceOpened{
		SessionId:            sess.ID,
		Bounded:              cfg.Bounded,
		Splits:               splitStates(sess.Splits()),
		CommitOffsets:        sess.CommitsEnabled(),
		CommitDisabledReason: sess.CommitReason,
	}}}); err != nil {
		return err
	}
	var empty source.Batch
	for _, sp := range sess.Splits() {
		if sp.FinishedAtStart() {
			empty.Finished = append(empty.Finished, sp)
		}
	}
	if err := sendFinished(stream, empty.Finished); err != nil {
		return err
	}
	reqs, recvErr := receive(ctx, stream.Recv)
	for {
		if sess.Finished() {
			return stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_EndOfInput{EndOfInput: &ferryv1.EndOfInput{}}})
		}
		select {
		case <-s.stopping:
			return errShuttingDown
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				// The client half-closed (grpcurl does after its last
				// message): keep sending until the input ends.
				recvErr = nil
				continue
			}
			return recvStatus(err)
		case req := <-reqs:
			done, err := s.readRequest(ctx, stream, sess, req)
			if done || err != nil {
				return err
			}
		case p := <-sess.Polled():
			if p.Err != nil {
				return toStatus(p.Err)
			}
			done, err := s.deliver(ctx, stream, sess, p.Batch, reqs)
			if done || err != nil {
				return err
			}
		case c := <-sess.Commits():
			if c.Err != nil {
				s.log.Warn("offset commit failed", "session", sess.ID, "checkpoint", c.CheckpointID, "failed_commits", c.Failed, "err", c.Err)
			}
			if c.CheckpointID == 0 {
				continue // a periodic auto-commit: logged, not reported
			}
			msg := &ferryv1.OffsetsCommitted{CheckpointId: c.CheckpointID, FailedCommits: c.Failed}
			if c.Err != nil {
				msg.Error = c.Err.Error()
			}
			if err := stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Committed{Committed: msg}}); err != nil {
				return err
			}
		case <-sess.AutoCommits():
			sess.AutoCommit(ctx)
		case now := <-sess.IdleTicks():
			if err := sendWatermark(stream, sess.Watermark(now)); err != nil {
				return err
			}
		}
	}
}

// sendWatermark sends the watermark and idleness changes of ev.
func sendWatermark(stream ferryv1.SourceService_ReadServer, ev sessions.WatermarkEvent) error {
	if ev.Idle != nil && !*ev.Idle && ev.Watermark == nil {
		return nil // leaving idleness is shown by the next watermark
	}
	if ev.Watermark != nil {
		if err := stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Watermark{Watermark: &ferryv1.Watermark{TimestampMs: *ev.Watermark}}}); err != nil {
			return err
		}
	}
	if ev.Idle != nil && *ev.Idle {
		return stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Idle{Idle: &ferryv1.Idle{}}})
	}
	return nil
}

// readRequest handles one client message after open; done ends the stream.
func (s *Server) readRequest(ctx context.Context, stream ferryv1.SourceService_ReadServer, sess *sessions.Source, req *ferryv1.ReadRequest) (done bool, err error) {
	switch k := req.GetKind().(type) {
	case *ferryv1.ReadRequest_Open:
		return true, status.Error(codes.FailedPrecondition, "open: the session is already open (one open per stream)")
	case *ferryv1.ReadRequest_Checkpoint:
		states, err := sess.Checkpoint(k.Checkpoint.GetCheckpointId())
		if err != nil {
			return true, toStatus(err)
		}
		return false, stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_Barrier{Barrier: &ferryv1.Barrier{
			CheckpointId: k.Checkpoint.GetCheckpointId(),
			State:        &ferryv1.SourceState{Splits: sessionStates(states)},
		}}})
	case *ferryv1.ReadRequest_CheckpointComplete:
		if err := sess.CheckpointComplete(ctx, k.CheckpointComplete.GetCheckpointId()); err != nil {
			return true, toStatus(err)
		}
		return false, nil
	case *ferryv1.ReadRequest_Close:
		return true, nil
	default:
		return true, status.Error(codes.InvalidArgument, "kind: the message sets no kind")
	}
}

// deliver sends a polled batch: SplitsAdded, the records in messages of at
// most maxBatchBytes, SplitFinished for finished splits, and the watermark.
// Between record messages it serves client messages that arrived, so that a
// barrier waits for one message at most, not for the whole batch; the state
// it records is exact because positions move with every message sent. done
// means the stream must end (with err).
func (s *Server) deliver(ctx context.Context, stream ferryv1.SourceService_ReadServer, sess *sessions.Source, b source.Batch,
	reqs <-chan *ferryv1.ReadRequest) (done bool, err error) {
	sess.BeginBatch(b)
	if len(b.Added) > 0 {
		if err := stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_SplitsAdded{SplitsAdded: &ferryv1.SplitsAdded{
			Splits: splitStates(b.Added),
		}}}); err != nil {
			return true, err
		}
	}
	for recs := b.Records; len(recs) > 0; {
		n := chunk(recs, maxBatchBytes)
		if err := stream.SendMsg(&recordsMessage{recs: recs[:n]}); err != nil {
			return true, err
		}
		sess.DeliveredRecords(recs[:n])
		recs = recs[n:]
		for pending := true; pending && len(recs) > 0; {
			select {
			case req := <-reqs:
				if done, err := s.readRequest(ctx, stream, sess, req); done || err != nil {
					return true, err
				}
			default:
				pending = false
			}
		}
	}
	if err := sendFinished(stream, b.Finished); err != nil {
		return true, err
	}
	return false, sendWatermark(stream, sess.EndBatch(b))
}

func sendFinished(stream ferryv1.SourceService_ReadServer, finished []source.Split) error {
	for _, f := range finished {
		if err := stream.Send(&ferryv1.ReadResponse{Kind: &ferryv1.ReadResponse_SplitFinished{SplitFinished: &ferryv1.SplitFinished{
			Topic: f.Topic, Partition: f.Partition, StoppingOffset: f.Stop,
		}}}); err != nil {
			return err
		}
	}
	return nil
}

func splitStates(splits []source.Split) []*ferryv1.SplitState {
	out := make([]*ferryv1.SplitState, len(splits))
	for i, sp := range splits {
		out[i] = splitState(sp.Topic, sp.Partition, sp.Start, sp.Stop)
	}
	return out
}

func sessionStates(states []source.SplitState) []*ferryv1.SplitState {
	out := make([]*ferryv1.SplitState, len(states))
	for i, st := range states {
		out[i] = splitState(st.Topic, st.Partition, st.Next, st.Stop)
	}
	return out
}

func splitState(topic string, partition int32, next, stop int64) *ferryv1.SplitState {
	st := &ferryv1.SplitState{Topic: topic, Partition: partition, NextOffset: next}
	if stop != source.NoStop {
		st.StoppingOffset = &stop
	}
	return st
}

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

// receive pumps client messages into a channel so that the handler can wait
// for them together with other events. The goroutine ends with the stream.
func receive[T any](ctx context.Context, recv func() (T, error)) (<-chan T, <-chan error) {
	msgs, errc := make(chan T), make(chan error, 1)
	go func() {
		for {
			m, err := recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, errc
}

// recvStatus maps an error from Recv: the client's cancellation keeps its
// code, anything else is what gRPC reported.
func recvStatus(err error) error {
	if errors.Is(err, io.EOF) {
		return status.Error(codes.FailedPrecondition, "the stream ended before open")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return toStatus(err)
}

// specField prefixes the field of an *connector.InvalidError from the
// connector, which names fields relative to the spec, with "open.spec.".
func specField(err error) error {
	var ie *connector.InvalidError
	if errors.As(err, &ie) && !strings.HasPrefix(ie.Field, "open.") {
		return connector.Invalid("open.spec."+ie.Field, "%s", ie.Rule)
	}
	return err
}
