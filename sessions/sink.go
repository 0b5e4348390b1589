package sessions

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector/sink"
)

// Sink is a sink session: a writer and checkpoint bookkeeping. Only the
// goroutine that serves the session calls its methods.
type Sink struct {
	ID string

	writer      *sink.Writer
	guarantee   sink.Guarantee
	release     func()
	closeOnce   sync.Once
	checkpoints Checkpoints
}

// OpenSink registers a session in reg and opens its writer.
func OpenSink(ctx context.Context, reg *Registry, cfg sink.Config) (*Sink, error) {
	id, release, err := reg.Acquire("sink")
	if err != nil {
		return nil, err
	}
	cfg.ClientID = clientID(cfg.Settings, id)
	w, err := sink.Open(ctx, cfg)
	if err != nil {
		release()
		return nil, err
	}
	return &Sink{ID: id, writer: w, guarantee: cfg.Guarantee, release: release}, nil
}

// Write writes the records of batch seq; see sink.Writer.Write.
func (s *Sink) Write(ctx context.Context, seq int64, recs []*kgo.Record) error {
	return s.writer.Write(ctx, seq, recs)
}

// Checkpoint takes checkpoint id: under NONE it answers at once, under
// AT_LEAST_ONCE it first waits until Kafka acknowledged every record. It
// returns the number of records written so far, an *OrderError when id does
// not increase, or the first record error.
func (s *Sink) Checkpoint(ctx context.Context, id int64) (int64, error) {
	if err := s.checkpoints.Begin(id); err != nil {
		return 0, err
	}
	if s.guarantee == sink.AtLeastOnce {
		if err := s.writer.Flush(ctx); err != nil {
			return 0, err
		}
	} else if err := s.writer.Err(); err != nil {
		return 0, err
	}
	return s.writer.Written(), nil
}

// Close flushes, closes the writer and releases the session. It returns the
// number of records Kafka acknowledged, or the first record error.
func (s *Sink) Close(ctx context.Context) (int64, error) {
	defer s.Abort()
	if err := s.writer.Flush(ctx); err != nil {
		return 0, err
	}
	return s.writer.Written(), nil
}

// Abort closes the writer without flushing and releases the session. It is
// safe to call after Close.
func (s *Sink) Abort() {
	s.closeOnce.Do(func() {
		s.writer.Close()
		s.release()
	})
}
