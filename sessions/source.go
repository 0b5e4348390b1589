package sessions

import (
	"context"
	"fmt"

	"github.com/ferrykafka/ferry/connector/source"
)

// Polled is one result of the session's fetch loop: a batch or the error
// that ended the loop.
type Polled struct {
	Batch source.Batch
	Err   error
}

type splitKey struct {
	topic     string
	partition int32
}

// Source is a source session: a reader, the positions of what was delivered
// to the client, and checkpoint bookkeeping. Only the goroutine that serves
// the session calls its methods; the fetch loop runs on its own.
type Source struct {
	ID string

	reader      *source.Reader
	polled      chan Polled
	cancel      context.CancelFunc
	done        chan struct{}
	release     func()
	positions   map[splitKey]*source.SplitState
	order       []splitKey
	stops       bool // the splits have stopping offsets
	remaining   int  // splits whose stop was not delivered yet
	checkpoints Checkpoints
}

// OpenSource registers a session in reg and opens its reader. The fetch loop
// prefetches at most one batch beyond the one being delivered.
func OpenSource(ctx context.Context, reg *Registry, cfg source.Config) (*Source, error) {
	id, release, err := reg.Acquire("source")
	if err != nil {
		return nil, err
	}
	cfg.ClientID = clientID(cfg.Settings, id)
	r, err := source.Open(ctx, cfg)
	if err != nil {
		release()
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	s := &Source{
		ID: id, reader: r, polled: make(chan Polled, 1), cancel: cancel,
		done: make(chan struct{}), release: release, positions: make(map[splitKey]*source.SplitState),
		stops: cfg.Stop != nil,
	}
	for _, sp := range r.Splits() {
		k := splitKey{sp.Topic, sp.Partition}
		s.positions[k] = &source.SplitState{Topic: sp.Topic, Partition: sp.Partition, Next: sp.Start, Stop: sp.Stop}
		s.order = append(s.order, k)
		if !sp.FinishedAtStart() {
			s.remaining++
		}
	}
	go s.fetch(loopCtx)
	return s, nil
}

func (s *Source) fetch(ctx context.Context) {
	defer close(s.done)
	for !s.reader.Finished() {
		b, err := s.reader.Poll(ctx)
		select {
		case s.polled <- Polled{Batch: b, Err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Splits returns the splits of the session at their start offsets.
func (s *Source) Splits() []source.Split { return s.reader.Splits() }

// Polled delivers fetched batches. It is never closed; after an error the
// loop stops sending.
func (s *Source) Polled() <-chan Polled { return s.polled }

// Finished reports whether the splits have stops and every one was delivered
// up to its stop: the session's input has ended.
func (s *Source) Finished() bool { return s.stops && s.remaining == 0 }

// Delivered records that the batch's records reached the client.
func (s *Source) Delivered(b source.Batch) {
	s.remaining -= len(b.Finished)
	for _, p := range b.Positions {
		if st := s.positions[splitKey{p.Topic, p.Partition}]; st != nil {
			st.Next = p.Next
		}
	}
}

// Checkpoint takes checkpoint id and returns the state of every split: what
// was delivered so far. It returns an *OrderError when id does not increase.
func (s *Source) Checkpoint(id int64) ([]source.SplitState, error) {
	if err := s.checkpoints.Begin(id); err != nil {
		return nil, err
	}
	out := make([]source.SplitState, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.positions[k])
	}
	return out, nil
}

// CheckpointComplete notes that checkpoint id is durable. It returns an
// *OrderError for a checkpoint that was never taken.
func (s *Source) CheckpointComplete(id int64) error {
	if !s.checkpoints.Taken(id) {
		return &OrderError{Message: "checkpoint_complete", Rule: fmt.Sprintf("checkpoint %d was never taken in this session", id)}
	}
	return nil
}

// Close stops the fetch loop, closes the reader and releases the session.
func (s *Source) Close() {
	s.cancel()
	<-s.done
	s.reader.Close()
	s.release()
}
