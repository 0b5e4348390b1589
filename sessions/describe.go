package sessions

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
)

// This file publishes what an operator sees of a live session (the admin
// RPC's ListSessions): the serving goroutine publishes snapshots at batch,
// checkpoint and commit boundaries, so that another goroutine can read them
// without touching the session's state.

// CheckpointMark is the newest checkpoint a session took.
type CheckpointMark struct {
	// ID is the checkpoint id, 0 before any.
	ID int64
	// At is when it was taken.
	At time.Time
}

// SourceView is a snapshot of a source session for operators.
type SourceView struct {
	// Splits are the positions of the session's splits (Next is the next
	// offset it sends), sorted by topic and partition.
	Splits []source.SplitState
	// Checkpoint is the newest checkpoint taken.
	Checkpoint CheckpointMark
}

// SplitLag is how far a split of a source is behind its partition's end.
type SplitLag struct {
	source.SplitState
	// End is the partition's end offset (the last stable offset under
	// read_committed).
	End int64
	// Committed is the group's committed offset, or -1 without one.
	Committed int64
}

// SinkView is a snapshot of a sink session for operators.
type SinkView struct {
	// Checkpoint is the newest checkpoint taken.
	Checkpoint CheckpointMark
	// TransactionalIDs are the transactions not committed yet (EXACTLY_ONCE):
	// the open one, then the prepared ones.
	TransactionalIDs []string
}

// publishView stores a snapshot of the source's positions and checkpoint.
func (s *Source) publishView() {
	s.view.Store(&SourceView{Splits: s.state(), Checkpoint: s.lastMark})
}

// View returns the latest snapshot of the session. It is safe to call from
// any goroutine.
func (s *Source) View() SourceView {
	if v := s.view.Load(); v != nil {
		return *v
	}
	return SourceView{}
}

// Lag returns, for every split of the latest snapshot, its partition's end
// and the group's committed offset, asked of Kafka with the session's own
// client (its credentials and isolation level). It is safe to call from any
// goroutine; it does not touch the session's state.
func (s *Source) Lag(ctx context.Context) ([]SplitLag, error) {
	v := s.View()
	tps := make([]source.TopicPartition, len(v.Splits))
	for i, sp := range v.Splits {
		tps[i] = sp.TopicPartition
	}
	end, committed, err := s.reader.EndAndCommitted(ctx, tps)
	out := make([]SplitLag, len(v.Splits))
	for i, sp := range v.Splits {
		out[i] = SplitLag{SplitState: sp, End: -1, Committed: -1}
		if e, ok := end[sp.TopicPartition]; ok {
			out[i].End = e
		}
		if c, ok := committed[sp.TopicPartition]; ok {
			out[i].Committed = c
		}
	}
	return out, err
}

// publishView stores a snapshot of the sink's checkpoint and transactions.
func (s *Sink) publishView() {
	v := &SinkView{Checkpoint: s.lastMark}
	if eo, ok := s.writer.(*sink.ExactlyOnceWriter); ok {
		v.TransactionalIDs = eo.TransactionalIDs()
	}
	s.view.Store(v)
}

// View returns the latest snapshot of the session. It is safe to call from
// any goroutine.
func (s *Sink) View() SinkView {
	if v := s.view.Load(); v != nil {
		return *v
	}
	return SinkView{}
}

// views are the snapshot fields both kinds of session embed.
type sourceViews struct {
	view     atomic.Pointer[SourceView]
	lastMark CheckpointMark
}

type sinkViews struct {
	view     atomic.Pointer[SinkView]
	lastMark CheckpointMark
}
