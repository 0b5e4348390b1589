package sessions

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/source"
)

// Polled is one result of the session's fetch loop: a batch or the error
// that ended the loop.
type Polled struct {
	Batch source.Batch
	Err   error
}

// CommitResult is the outcome of committing a checkpoint's offsets.
type CommitResult struct {
	// CheckpointID is the checkpoint, or 0 for a periodic auto-commit.
	CheckpointID int64
	// Err is nil on success.
	Err error
	// Failed counts the commits of this session that failed so far.
	Failed int64
}

// WatermarkEvent is what the watermark generator has to tell the client.
type WatermarkEvent struct {
	// Watermark is set when the reader's watermark advanced.
	Watermark *int64
	// Idle is set when the reader became idle (true) or active (false).
	Idle *bool
}

// KafkaStatus is a change of the reader's Kafka status to tell the client.
type KafkaStatus struct {
	// Available is false when the reader's requests to Kafka have failed
	// for longer than kafka.status.unavailable.after.ms, true when they
	// succeed again.
	Available bool
	// Reason names the brokers and requests that failed; empty when
	// available.
	Reason string
	// Since is when the requests began to fail, or when they were seen
	// to succeed again.
	Since time.Time
}

type commitRequest struct {
	id      int64
	offsets []source.SplitState
	span    trace.Span // the checkpoint's, ended by the commit; nil for none
}

// SourceOptions are the session-level options of a source.
type SourceOptions struct {
	// CommitOnCheckpoint commits a checkpoint's offsets when it completes;
	// it needs the reader's group id.
	CommitOnCheckpoint bool
	// AutoCommitInterval, when > 0, commits delivered offsets periodically.
	AutoCommitInterval time.Duration
	// Watermarks is the watermark strategy.
	Watermarks source.WatermarkStrategy
}

// Source is a source session: a reader, the positions of what was delivered
// to the client, checkpoint bookkeeping, offset commits and watermarks. Only
// the goroutine that serves the session calls its methods; the fetch loop
// and the committer run on their own.
type Source struct {
	sourceViews
	ID string
	// CommitReason says why offsets are not committed, or is empty.
	CommitReason string

	reader      *source.Reader
	initial     []source.Split
	polled      chan Polled
	cancel      context.CancelFunc
	done        chan struct{}
	release     func()
	positions   map[source.TopicPartition]*source.SplitState
	order       []source.TopicPartition // sorted, the order of barrier states
	stops       bool                    // the splits have stopping offsets
	remaining   int                     // splits whose stop was not delivered yet
	checkpoints Checkpoints
	stats       sourceStats // for metrics
	spans       checkpointSpans

	commitOn     bool
	pending      map[int64][]source.SplitState // taken, not yet completed
	commitQueue  chan commitRequest
	commitResult chan CommitResult
	commitDone   chan struct{}
	failed       atomic.Int64
	autoCommit   *time.Ticker
	lastAuto     []source.SplitState

	watermarks *source.Watermarks
	ticker     *time.Ticker // drives idleness

	statusTicker     *time.Ticker  // drives KafkaStatus
	unavailableAfter time.Duration // kafka.status.unavailable.after.ms
	unavailable      bool          // the client was told Kafka is unavailable
}

// OpenSource registers a session in reg and opens its reader. The fetch loop
// prefetches at most one batch beyond the one being delivered.
func OpenSource(ctx context.Context, reg *Registry, cfg source.Config, opts SourceOptions) (*Source, error) {
	id, release, err := reg.Acquire(Claim{Kind: "source", Owner: OwnerOf(ctx), Bytes: SourceMemory(cfg.Settings)})
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
		done: make(chan struct{}), release: release, positions: make(map[source.TopicPartition]*source.SplitState),
		stops: cfg.Stop != nil, pending: make(map[int64][]source.SplitState), spans: newCheckpointSpans(ctx, id),
	}
	switch {
	case cfg.GroupID == "":
		s.CommitReason = "no group id: offsets are not committed (as in Flink)"
	case !opts.CommitOnCheckpoint:
		s.CommitReason = "commit.offsets.on.checkpoint is false"
	default:
		s.commitOn = true
	}
	if cfg.GroupID != "" && (s.commitOn || opts.AutoCommitInterval > 0) {
		s.commitQueue, s.commitResult, s.commitDone = make(chan commitRequest, commitQueueLen), make(chan CommitResult, commitQueueLen), make(chan struct{})
		go s.commit(loopCtx)
		if opts.AutoCommitInterval > 0 {
			s.autoCommit = time.NewTicker(opts.AutoCommitInterval)
		}
	}
	if opts.Watermarks.Kind != source.WatermarkNone {
		s.watermarks = source.NewWatermarks(opts.Watermarks)
		if opts.Watermarks.IdleTimeout > 0 {
			s.ticker = time.NewTicker(min(opts.Watermarks.IdleTimeout/2, 200*time.Millisecond))
		}
	}
	s.unavailableAfter = kafkaconf.DefaultUnavailableAfter
	if cfg.Settings != nil && cfg.Settings.UnavailableAfter > 0 {
		s.unavailableAfter = cfg.Settings.UnavailableAfter
	}
	// A fifth of the bound between looks, so that the report comes at most
	// 20% late; at least one a second, at most 20 a second.
	s.statusTicker = time.NewTicker(min(max(s.unavailableAfter/5, 50*time.Millisecond), time.Second))
	now := time.Now()
	s.initial = r.Splits() // before the fetch loop owns the reader
	for _, sp := range s.initial {
		s.addSplit(sp, now)
	}
	s.sortOrder()
	s.stats.init(now)
	s.stats.addSplits(s.initial, s.order)
	s.publishView()
	go s.fetch(loopCtx)
	return s, nil
}

// sortOrder keeps the splits sorted by topic and partition, the order of
// checkpoint states; call it after adding splits.
func (s *Source) sortOrder() {
	source.SortTopicPartitions(s.order, func(k *source.TopicPartition) source.TopicPartition { return *k })
}

func (s *Source) addSplit(sp source.Split, now time.Time) {
	s.positions[sp.TopicPartition] = &source.SplitState{Split: sp, Next: sp.Start}
	s.order = append(s.order, sp.TopicPartition)
	if sp.FinishedAtStart() {
		return
	}
	s.remaining++
	if s.watermarks != nil {
		s.watermarks.AddSplit(sp.Topic, sp.Partition, now)
	}
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

// commit runs commits one at a time, in order, so that an older commit never
// lands after a newer one.
func (s *Source) commit(ctx context.Context) {
	defer close(s.commitDone)
	for req := range s.commitQueue {
		cctx, cancel := context.WithTimeout(ctx, commitTimeout)
		err := s.reader.Commit(cctx, req.offsets)
		cancel()
		if err != nil {
			s.failed.Add(1)
		} else {
			s.stats.committed(req.offsets)
		}
		endCheckpoint(req.span, outcomeCommitted, err)
		select {
		case s.commitResult <- CommitResult{CheckpointID: req.id, Err: err, Failed: s.failed.Load()}:
		case <-ctx.Done():
			return
		}
	}
}

// Splits returns the splits the session opened with, at their start
// offsets. (Splits found later arrive in batches, as Batch.Added.)
func (s *Source) Splits() []source.Split { return s.initial }

// Polled delivers fetched batches. It is never closed; after an error the
// loop stops sending.
func (s *Source) Polled() <-chan Polled { return s.polled }

// Commits delivers the outcome of offset commits; nil when committing is off.
func (s *Source) Commits() <-chan CommitResult { return s.commitResult }

// AutoCommits ticks when delivered offsets are due for an auto-commit; nil
// when auto-commit is off.
func (s *Source) AutoCommits() <-chan time.Time {
	if s.autoCommit == nil {
		return nil
	}
	return s.autoCommit.C
}

// IdleTicks ticks when idleness must be checked; nil without idle timeout.
func (s *Source) IdleTicks() <-chan time.Time {
	if s.ticker == nil {
		return nil
	}
	return s.ticker.C
}

// KafkaStatusTicks ticks when the reader's Kafka status must be looked at
// (KafkaStatus).
func (s *Source) KafkaStatusTicks() <-chan time.Time { return s.statusTicker.C }

// KafkaStatus returns the change of the reader's Kafka status to tell the
// client at now, or nil: unavailable once its requests to Kafka have failed
// for longer than kafka.status.unavailable.after.ms (the reader keeps
// retrying), available again once they succeed after that.
func (s *Source) KafkaStatus(now time.Time) *KafkaStatus {
	h := s.reader.Health(now)
	switch {
	case !s.unavailable && h.Failing && now.Sub(h.Since) >= s.unavailableAfter:
		s.unavailable = true
		return &KafkaStatus{Reason: h.Reason, Since: h.Since}
	case s.unavailable && !h.Failing:
		s.unavailable = false
		return &KafkaStatus{Available: true, Since: now}
	}
	return nil
}

// CommitsEnabled reports whether completed checkpoints commit offsets.
func (s *Source) CommitsEnabled() bool { return s.commitOn }

// Finished reports whether the splits have stops and every one was delivered
// up to its stop, and no discovery may add more: the input has ended.
func (s *Source) Finished() bool { return s.stops && s.remaining == 0 && s.reader.Finished() }

// BeginBatch registers the splits a batch adds; call it before any of the
// batch reaches the client.
func (s *Source) BeginBatch(b source.Batch) {
	s.stats.ends(b.Ends)
	if len(b.Added) == 0 {
		return
	}
	now := time.Now()
	for _, sp := range b.Added {
		s.addSplit(sp, now)
	}
	s.sortOrder()
	s.stats.addSplits(b.Added, s.order)
}

// DeliveredRecords records that recs, the next records of the batch in
// order, reached the client: a checkpoint taken now resumes after them.
func (s *Source) DeliveredRecords(recs []*kgo.Record) {
	if len(recs) == 0 {
		return
	}
	s.stats.delivered(recs)
	now := time.Now()
	for i, r := range recs {
		// Records come in runs of one partition: its position moves to
		// the end of each run, one map lookup a run rather than a record.
		if i+1 == len(recs) || recs[i+1].Partition != r.Partition || recs[i+1].Topic != r.Topic {
			if st := s.positions[source.TopicPartition{Topic: r.Topic, Partition: r.Partition}]; st != nil {
				st.Next = r.Offset + 1
			}
		}
		if s.watermarks != nil {
			s.watermarks.OnRecord(r.Topic, r.Partition, r.Timestamp.UnixMilli(), now)
		}
	}
}

// EndBatch records that the whole batch reached the client (positions may
// move past control records), finishes its finished splits, and returns
// what the watermark generator has to say.
func (s *Source) EndBatch(b source.Batch) WatermarkEvent {
	for _, m := range b.Moved {
		if st := s.positions[m.TopicPartition]; st != nil {
			st.Next = m.Next
		}
	}
	for _, f := range b.Finished {
		if !f.FinishedAtStart() {
			s.remaining--
		}
		if s.watermarks != nil {
			s.watermarks.RemoveSplit(f.Topic, f.Partition)
		}
	}
	s.publishView()
	s.stats.endBatch(b, len(s.polled) > 0, time.Now())
	return s.Watermark(time.Now())
}

// Watermark advances the watermark generator to now.
func (s *Source) Watermark(now time.Time) WatermarkEvent {
	var ev WatermarkEvent
	if s.watermarks == nil {
		return ev
	}
	wm, advanced, idle, idleChanged := s.watermarks.Advance(now)
	if advanced {
		ev.Watermark = &wm
		s.stats.watermark.Store(wm)
	}
	if idleChanged {
		ev.Idle = &idle
	}
	return ev
}

func (s *Source) state() []source.SplitState {
	out := make([]source.SplitState, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.positions[k])
	}
	return out
}

// Checkpoint takes checkpoint id and returns the state of every split: what
// was delivered so far. It returns an *OrderError when id does not increase.
func (s *Source) Checkpoint(id int64) ([]source.SplitState, error) {
	if err := s.checkpoints.Begin(id); err != nil {
		return nil, err
	}
	st := s.state()
	if s.commitOn {
		s.pending[id] = st
	}
	s.spans.begin(id, attrSplits.Int(len(st)))
	s.lastMark = CheckpointMark{ID: id, At: time.Now()}
	s.publishView()
	return st, nil
}

// CheckpointComplete notes that checkpoint id is durable and, when committing
// is on, queues the commit of its offsets (older pending checkpoints are
// superseded, as in Flink). It returns an *OrderError for a checkpoint that
// was never taken or was already completed or superseded.
func (s *Source) CheckpointComplete(ctx context.Context, id int64) error {
	if !s.checkpoints.Taken(id) {
		return &OrderError{Message: "checkpoint_complete", Rule: fmt.Sprintf("checkpoint %d was never taken in this session", id)}
	}
	if !s.commitOn {
		s.spans.end(id, outcomeCompleted, outcomeSuperseded, nil)
		return nil
	}
	offsets, ok := s.pending[id]
	if !ok {
		return &OrderError{Message: "checkpoint_complete", Rule: fmt.Sprintf("checkpoint %d was already completed or superseded by a later one", id)}
	}
	for pid := range s.pending {
		if pid <= id {
			delete(s.pending, pid)
		}
	}
	span := s.spans.take(id, outcomeSuperseded)
	select {
	case s.commitQueue <- commitRequest{id: id, offsets: offsets, span: span}:
		return nil
	case <-ctx.Done():
		endCheckpoint(span, outcomeNotCompleted, nil)
		return ctx.Err()
	}
}

// AutoCommit queues a commit of the delivered offsets if they moved since
// the last one.
func (s *Source) AutoCommit(ctx context.Context) {
	st := s.state()
	if equalStates(st, s.lastAuto) {
		return
	}
	s.lastAuto = st
	select {
	case s.commitQueue <- commitRequest{offsets: st}:
	case <-ctx.Done():
	}
}

func equalStates(a, b []source.SplitState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Close stops the fetch loop and the committer, closes the reader and
// releases the session.
func (s *Source) Close() {
	if s.commitQueue != nil {
		close(s.commitQueue)
		// Let a commit in flight finish (bounded by its timeout) so that a
		// completed checkpoint's offsets are not dropped at close.
		go func() {
			for range s.commitResult {
			}
		}()
		<-s.commitDone
		close(s.commitResult)
	}
	s.spans.endAll(outcomeNotCompleted)
	s.cancel()
	<-s.done
	if s.autoCommit != nil {
		s.autoCommit.Stop()
	}
	if s.ticker != nil {
		s.ticker.Stop()
	}
	s.statusTicker.Stop()
	s.reader.Close()
	s.release()
}
