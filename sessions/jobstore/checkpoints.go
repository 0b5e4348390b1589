package jobstore

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// Join makes session the member at index of the job's operator, which runs
// with parallelism: it writes the member record (acks=all) after reading the
// topic to its end (Sync). It refuses, with a *ConflictError, a parallelism
// other than that of the operator's current members when any of them joined
// after the job's last completed checkpoint: the job would run with two
// parallelisms at once. Otherwise a new parallelism replaces the old members
// (a rescale from the last completed checkpoint), and the records of old
// members at indexes the new parallelism lacks are tombstoned.
//
// Two ferries admitting conflicting joins in the same instant are ordered by
// the topic: the later join replaces the earlier members there too.
func (s *Store) Join(ctx context.Context, job, operator string, index, parallelism int, kind, session string) error {
	if err := validMember(job, operator, index, parallelism); err != nil {
		return err
	}
	if err := s.Sync(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	open, stale, ok := s.idx.admit(job, operator, parallelism)
	s.mu.RUnlock()
	if !ok {
		return &ConflictError{Job: job, Operator: operator, Open: open, Asked: parallelism}
	}
	m := Member{Kind: kind, Parallelism: parallelism, Session: session, AtMs: time.Now().UnixMilli()}
	rec, err := record(s.cfg.Topic, memberKey(job, operator, index), m)
	if err != nil {
		return err
	}
	recs := []*kgo.Record{rec}
	for _, i := range stale {
		tomb, _ := record(s.cfg.Topic, memberKey(job, operator, i), nil)
		recs = append(recs, tomb)
	}
	return s.write(ctx, fmt.Sprintf("joining job %q operator %q at index %d", job, operator, index), recs...)
}

// PutState stores st as the state of the job's operator at index for
// checkpoint id, with acks=all, and returns once Kafka has it; the index
// has it at once. st.Session must be the member at index (Join), else a
// *FencedError; st.Parallelism, when not 0, must be the member's (0 takes
// it), st.Kind "" takes the member's, st.AtMs 0 takes the time now. An id
// not newer than the job's last completed checkpoint is an *OrderError: a
// completed checkpoint's states never change.
//
// PutState reads this ferry's index without Sync: the member is this
// session's own write, and a completion made elsewhere and not yet read only
// lets a state be stored that no restore will read.
func (s *Store) PutState(ctx context.Context, job, operator string, index int, st State, id int64) error {
	if err := validName("job", job); err != nil {
		return err
	}
	if err := validName("operator", operator); err != nil {
		return err
	}
	if index < 0 {
		return connector.Invalid("index", "must not be negative, is %d", index)
	}
	if err := validID(id); err != nil {
		return err
	}
	s.mu.RLock()
	last, _, _, done := s.idx.latest(job)
	p, members := s.idx.current(job, operator)
	s.mu.RUnlock()
	if done && id <= last {
		return &OrderError{Job: job, Checkpoint: id, Last: last, Op: "store a state for"}
	}
	m, ok := members[index]
	if !ok || m.v.Session != st.Session {
		return &FencedError{Job: job, Operator: operator, Index: index, Session: st.Session, Member: m.v.Session}
	}
	switch st.Parallelism {
	case 0:
		st.Parallelism = p
	case p:
	default:
		return connector.Invalid("parallelism", "the state's parallelism %d is not its member's, %d", st.Parallelism, p)
	}
	if st.Kind == "" {
		st.Kind = m.v.Kind
	}
	if st.AtMs == 0 {
		st.AtMs = time.Now().UnixMilli()
	}
	rec, err := record(s.cfg.Topic, stateKey(job, id, operator, index), st)
	if err != nil {
		return err
	}
	return s.write(ctx, fmt.Sprintf("storing the state of job %q operator %q index %d for checkpoint %d", job, operator, index, id), rec)
}

// Complete completes checkpoint id of the job, after reading the topic to its
// end (Sync). Every operator that has members must have, at each index
// 0..parallelism-1, a member whose session stored a state for id; else an
// *IncompleteError names the first operator and index that lack one (a job
// without members is incomplete too). An id not newer than the job's last
// completed checkpoint is an *OrderError, except an id that is completed:
// then Complete returns its completion again (a client retrying after a
// crash). Complete writes the completion record (acks=all) and returns once
// Kafka has it; only then does the checkpoint count. It then tombstones the
// states and completions of checkpoints older than the Retain-th newest
// completed one; a failure there is logged, not returned (the next
// completion tombstones them).
func (s *Store) Complete(ctx context.Context, job string, id int64) (Completion, error) {
	if err := validName("job", job); err != nil {
		return Completion{}, err
	}
	if err := validID(id); err != nil {
		return Completion{}, err
	}
	if err := s.Sync(ctx); err != nil {
		return Completion{}, err
	}
	s.mu.RLock()
	c, done := s.idx.completion(job, id)
	last, _, _, completed := s.idx.latest(job)
	var err error
	if !done && !(completed && id <= last) {
		c, err = s.idx.check(job, id)
	}
	s.mu.RUnlock()
	switch {
	case done:
		return c, nil
	case completed && id <= last:
		return Completion{}, &OrderError{Job: job, Checkpoint: id, Last: last, Op: "complete"}
	case err != nil:
		return Completion{}, err
	}
	c.AtMs = time.Now().UnixMilli()
	rec, err := record(s.cfg.Topic, completeKey(job, id), c)
	if err != nil {
		return Completion{}, err
	}
	if err := s.write(ctx, fmt.Sprintf("completing checkpoint %d of job %q", id, job), rec); err != nil {
		return Completion{}, err
	}
	s.expire(ctx, job)
	return cloneCompletion(c), nil
}

// expire tombstones what retention drops from the job.
func (s *Store) expire(ctx context.Context, job string) {
	s.mu.RLock()
	keys := s.idx.expired(job, s.cfg.Retain)
	s.mu.RUnlock()
	if len(keys) == 0 {
		return
	}
	recs := make([]*kgo.Record, len(keys))
	for i, k := range keys {
		recs[i], _ = record(s.cfg.Topic, k, nil)
	}
	if err := s.write(ctx, fmt.Sprintf("tombstoning %d expired records of job %q", len(keys), job), recs...); err != nil {
		s.log.Warn("retention could not tombstone expired checkpoints; the next completion retries", "job", job, "error", err)
	}
}

// Latest returns the job's newest completed checkpoint as this ferry's index
// has it (Sync first to include completions made elsewhere a moment ago);
// ok is false when the job has none.
func (s *Store) Latest(job string) (id int64, c Completion, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, c, _, ok = s.idx.latest(job)
	return id, cloneCompletion(c), ok
}

// States returns the states of the job's operator for checkpoint id, by
// index. For a completed checkpoint these are the states it covers: indexes
// 0..parallelism-1 at the operator's parallelism in the completion (none when
// the operator is not in it); a restore takes their union. For another id,
// every state stored for it. Callers own the returned slices.
func (s *Store) States(job, operator string, id int64) []State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	parallelism := 0
	if c, ok := s.idx.completion(job, id); ok {
		p, in := c.Operators[operator]
		if !in {
			return nil
		}
		parallelism = int(p)
	}
	return s.idx.states(job, operator, id, parallelism)
}

// WaitCompleted returns the job's newest completed checkpoint once it is
// newer than after, whichever ferry completed it: the tail reads every
// completion into the index. It returns ctx's error when ctx ends first,
// ErrClosed when the store closes.
func (s *Store) WaitCompleted(ctx context.Context, job string, after int64) (int64, error) {
	if err := validName("job", job); err != nil {
		return 0, err
	}
	for {
		s.mu.RLock()
		id, _, _, ok := s.idx.latest(job)
		changed := s.changed
		s.mu.RUnlock()
		if ok && id > after {
			return id, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.done:
			return 0, ErrClosed
		}
	}
}

func cloneCompletion(c Completion) Completion {
	c.Operators = maps.Clone(c.Operators)
	return c
}
