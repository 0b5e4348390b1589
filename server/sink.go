package server

import (
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector/sink"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// Write serves a sink session; see the proto for the protocol.
func (s *Server) Write(stream ferryv1.SinkService_WriteServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return recvStatus(err)
	}
	open := first.GetOpen()
	if open == nil {
		return status.Errorf(codes.FailedPrecondition, "%s before open: the first message on a Write stream must be open", writeKind(first))
	}
	cfg, err := s.sinkConfig(open)
	if err != nil {
		return toStatus(err)
	}
	sess, err := sessions.OpenSink(ctx, s.registry, cfg)
	if err != nil {
		return toStatus(err)
	}
	defer sess.Abort()
	s.logIgnored(ctx, sess.ID, cfg.Settings)
	if err := stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Opened{Opened: &ferryv1.SinkOpened{SessionId: sess.ID, RestoredTransactions: int32(len(cfg.Restore))}}}); err != nil {
		return err
	}
	reqs, recvErr := receive(ctx, stream.Recv)
	for {
		select {
		case <-s.stopping:
			return errShuttingDown
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return status.Error(codes.FailedPrecondition, "the stream ended without close; unflushed records may not be written")
			}
			return recvStatus(err)
		case req := <-reqs:
			switch k := req.GetKind().(type) {
			case *ferryv1.WriteRequest_Open:
				return status.Error(codes.FailedPrecondition, "open: the session is already open (one open per stream)")
			case *ferryv1.WriteRequest_Records:
				recs, err := sinkRecords(k.Records, cfg.DefaultTopic)
				if err != nil {
					return toStatus(err)
				}
				group, offsets, err := consumedOffsets(k.Records, cfg.Guarantee)
				if err != nil {
					return toStatus(err)
				}
				if err := sess.Write(ctx, k.Records.GetSequence(), recs); err != nil {
					return toStatus(err)
				}
				if offsets != nil {
					if err := sess.AddOffsets(ctx, group, offsets); err != nil {
						return toStatus(err)
					}
				}
			case *ferryv1.WriteRequest_Checkpoint:
				id := k.Checkpoint.GetCheckpointId()
				res, err := sess.Checkpoint(ctx, id)
				if err != nil {
					return toStatus(err)
				}
				resp := &ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Flushed{Flushed: &ferryv1.CheckpointFlushed{
					CheckpointId: id, RecordsWritten: res.Written,
				}}}
				if cfg.Guarantee == sink.ExactlyOnce {
					resp = &ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Prepared{Prepared: &ferryv1.Prepared{
						CheckpointId: id, State: sinkState(res.Prepared),
					}}}
				}
				if err := stream.Send(resp); err != nil {
					return err
				}
			case *ferryv1.WriteRequest_Commit:
				id := k.Commit.GetCheckpointId()
				if err := sess.Commit(ctx, id); err != nil {
					return toStatus(err)
				}
				if err := stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Committed{Committed: &ferryv1.TransactionsCommitted{CheckpointId: id}}}); err != nil {
					return err
				}
			case *ferryv1.WriteRequest_Close:
				written, err := sess.Close(ctx)
				if err != nil {
					return toStatus(err)
				}
				return stream.Send(&ferryv1.WriteResponse{Kind: &ferryv1.WriteResponse_Closed{Closed: &ferryv1.SinkClosed{RecordsWritten: written}}})
			default:
				return status.Error(codes.InvalidArgument, "kind: the message sets no kind")
			}
		}
	}
}

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

func sinkState(ps []sink.Prepared) *ferryv1.SinkState {
	st := &ferryv1.SinkState{Transactions: make([]*ferryv1.PreparedTransaction, len(ps))}
	for i, p := range ps {
		st.Transactions[i] = &ferryv1.PreparedTransaction{
			TransactionalId: p.TransactionalID, ProducerId: p.ProducerID, ProducerEpoch: int32(p.ProducerEpoch),
			CheckpointId: p.CheckpointID, TransactionVersion: p.TransactionVersion,
		}
	}
	return st
}
