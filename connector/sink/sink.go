// Package sink writes records to Kafka with a delivery guarantee, the way
// Flink's KafkaSink does.
//
// Open returns a Writer in one of two modes, as Flink's
// ExactlyOnceKafkaWriter extends KafkaWriter: a *KafkaWriter for NONE and
// AT_LEAST_ONCE, and for EXACTLY_ONCE an *ExactlyOnceWriter that embeds it
// and sends the records into Kafka transactions instead.
//
// Both produce asynchronously: Write hands records to franz-go and returns;
// the first record Kafka refuses makes every later call fail with a
// *connector.RecordError naming the batch and the record. Written counts only
// records Kafka acknowledged, so a failed write is never reported as written.
//
// A writer whose records Kafka has not acknowledged within delivery.timeout.ms
// of their hand-over fails with a *connector.UnavailableError naming the
// brokers it could not reach, at once (Failed), and so does a checkpoint,
// commit or close whose Kafka requests get no answer for that long: a writer
// never waits silently for a broker that died or hangs.
package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// Guarantee is Flink's DeliveryGuarantee.
type Guarantee int

const (
	// None is fire and forget (the default, as in Flink).
	None Guarantee = iota
	// AtLeastOnce flushes at every checkpoint.
	AtLeastOnce
	// ExactlyOnce writes in Kafka transactions committed after checkpoints.
	ExactlyOnce
)

// String returns Flink's name of g: NONE, AT_LEAST_ONCE or EXACTLY_ONCE.
func (g Guarantee) String() string {
	switch g {
	case AtLeastOnce:
		return "AT_LEAST_ONCE"
	case ExactlyOnce:
		return "EXACTLY_ONCE"
	}
	return "NONE"
}

// NoPartition is the Partition of a record the partitioner places.
const NoPartition int32 = -1

// Config describes a writer.
type Config struct {
	Cluster connector.Cluster
	// Guarantee picks the writer's mode; None (the zero value) by default.
	Guarantee Guarantee
	// DefaultTopic is the topic of records whose topic is empty.
	DefaultTopic string
	// Partitioner places records whose Partition is NoPartition; Kafka's
	// default partitioner (the zero value) by default.
	Partitioner PartitionerKind
	// WriterIndex in [0, Parallelism); used by the fixed partitioner and in
	// the transactional ids.
	WriterIndex int
	Parallelism int
	// TransactionalIDPrefix names the transactions (EXACTLY_ONCE).
	TransactionalIDPrefix string
	// Restore holds prepared transactions to commit before writing
	// (EXACTLY_ONCE).
	Restore []Prepared
	// Settings from the session's properties; nil means defaults.
	Settings *kafkaconf.Settings
	// ClientID of the Kafka client; empty means franz-go's default.
	ClientID string
	// Hooks are added to every Kafka client of the writer (the
	// transactional producers too) after the connector's own, in order:
	// how the caller observes it (traces, metrics) without the connector
	// knowing of them.
	Hooks []kgo.Hook
}

// Writer is the writer of one sink session, in the mode Open picked from
// Config.Guarantee. Only the goroutine that serves the session calls its
// methods, except Written, which any goroutine may call.
type Writer interface {
	// Write produces the records of batch seq. A record with an empty topic
	// goes to the default topic. It blocks only while franz-go's buffer is
	// full, and returns the first error any earlier record met (a
	// *connector.RecordError).
	Write(ctx context.Context, seq int64, recs []*kgo.Record) error
	// AddOffsets commits consumed source offsets for group inside the open
	// transaction. Only an *ExactlyOnceWriter has one; a *KafkaWriter
	// returns a *connector.InvalidError.
	AddOffsets(ctx context.Context, group string, offsets []ConsumedOffset) error
	// Checkpoint takes checkpoint id: NONE answers at once, AT_LEAST_ONCE
	// first waits until Kafka acknowledged every record, EXACTLY_ONCE
	// pre-commits the open transaction and returns every prepared
	// transaction not committed yet. It returns the first record error.
	Checkpoint(ctx context.Context, id int64) ([]Prepared, error)
	// Finish ends the input before Close: NONE and AT_LEAST_ONCE wait until
	// Kafka answered every record and return the first record error;
	// EXACTLY_ONCE does nothing (Close aborts the open transaction).
	Finish(ctx context.Context) error
	// Written returns the number of records Kafka acknowledged.
	Written() int64
	// Stats returns the writer's figures for metrics; any goroutine may
	// call it.
	Stats() Stats
	// Failed is closed when the writer failed: a record was refused or
	// not acknowledged within the delivery timeout. Err says why.
	Failed() <-chan struct{}
	// Err returns the error the writer failed with, or nil.
	Err() error
	// Close closes the Kafka clients; unflushed records are failed, not
	// written. EXACTLY_ONCE aborts the open transaction and leaves the
	// prepared ones for a commit after a restore.
	Close(ctx context.Context)
}

// KafkaWriter is the writer of NONE and AT_LEAST_ONCE sessions (Flink's
// KafkaWriter), and the base an *ExactlyOnceWriter embeds: the Kafka
// client, the default topic and the bookkeeping of acknowledged and failed
// records.
type KafkaWriter struct {
	cl           *kgo.Client // produces; under EXACTLY_ONCE only connects and sends admin requests
	guarantee    Guarantee   // None or AtLeastOnce; unused under EXACTLY_ONCE
	defaultTopic string
	written      atomic.Int64
	stats        writerStats
	brokers      *connector.Brokers // what the clients' requests to the brokers met
	spans        connector.Spans    // under the session's span
	timeout      time.Duration      // delivery.timeout.ms
	pending      pendingQueue

	// failCtx ends when the writer fails: the records handed to franz-go
	// carry it, so that a failure also frees a Write blocked on a full
	// buffer, and fails what is still buffered.
	failCtx context.Context
	cancel  context.CancelFunc

	mu  sync.Mutex
	err error // first error, sticky
}

// errClosed is the error of a writer after Close.
var errClosed = errors.New("the writer is closed")

// errNoAnswer ends a Kafka request of a writer that got no answer within the
// delivery timeout.
var errNoAnswer = errors.New("no answer within delivery.timeout.ms")

// newKafkaWriter returns the base writer around its connected client and
// starts its delivery watchdog.
func newKafkaWriter(ctx context.Context, cl *kgo.Client, cfg Config, brokers *connector.Brokers) *KafkaWriter {
	w := &KafkaWriter{cl: cl, guarantee: cfg.Guarantee, defaultTopic: cfg.DefaultTopic, brokers: brokers, timeout: deliveryTimeout(cfg),
		spans: newSpans(ctx)}
	w.failCtx, w.cancel = context.WithCancel(context.Background())
	go w.watch()
	return w
}

func deliveryTimeout(cfg Config) time.Duration {
	if cfg.Settings.DeliveryTimeout > 0 {
		return cfg.Settings.DeliveryTimeout
	}
	return kafkaconf.DefaultDeliveryTimeout
}

// Open connects a writer: a *KafkaWriter for NONE and AT_LEAST_ONCE, an
// *ExactlyOnceWriter for EXACTLY_ONCE (see openExactlyOnce for what it does
// before it returns: commit the restore state, abort lingering
// transactions). It returns a *connector.InvalidError for properties
// franz-go refuses, a *connector.UnavailableError when Kafka cannot be
// reached, and under EXACTLY_ONCE a *DataLossError when a transaction of
// the restore state can no longer be committed.
func Open(ctx context.Context, cfg Config) (Writer, error) {
	if cfg.Settings == nil {
		cfg.Settings, _ = kafkaconf.Parse(kafkaconf.Producer, nil, kafkaconf.Files{})
	}
	// The writer only names brokers (Unreachable), which counts every
	// request still waiting; it asks no Health.
	brokers := connector.NewBrokers(cfg.Cluster.BootstrapServers, 0)
	opts := clientOpts(cfg, brokers)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, connector.Invalid("properties", "%v", err)
	}
	if err := ping(ctx, cl, deliveryTimeout(cfg), brokers); err != nil {
		cl.Close()
		return nil, err
	}
	w := newKafkaWriter(ctx, cl, cfg, brokers)
	if cfg.Guarantee != ExactlyOnce {
		return w, nil
	}
	eo, err := openExactlyOnce(ctx, w, cfg, opts)
	if err != nil {
		return nil, err // not eo: a nil *ExactlyOnceWriter is a non-nil Writer
	}
	return eo, nil
}

// clientOpts are the franz-go options of a writer's clients (the
// transactional producers add their id and timeout): the producer defaults
// of kafkaconf (Java's where franz-go's differ), then cfg.Settings, the
// partitioner, the hook that tells brokers what the requests met, and
// cfg.Hooks.
func clientOpts(cfg Config, brokers *connector.Brokers) []kgo.Opt {
	return append(cfg.Settings.ClientOpts(cfg.Cluster, cfg.ClientID),
		kgo.RecordPartitioner(newPartitioner(cfg.Partitioner, cfg.WriterIndex)),
		kgo.WithHooks(brokers.Hook()), kgo.WithHooks(cfg.Hooks...))
}

// ping checks that the cluster answers within the delivery timeout.
func ping(ctx context.Context, cl *kgo.Client, timeout time.Duration, brokers *connector.Brokers) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errNoAnswer)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		if errors.Is(context.Cause(ctx), errNoAnswer) {
			err = fmt.Errorf("no answer within delivery.timeout.ms (%d ms); %s", timeout.Milliseconds(), brokers.Unreachable(time.Now()))
		}
		return &connector.UnavailableError{Op: "connecting", Err: err}
	}
	return nil
}

// Write produces the records of batch seq; see Writer.
func (w *KafkaWriter) Write(ctx context.Context, seq int64, recs []*kgo.Record) error {
	defer w.failWhenDone(ctx)()
	if err := w.Err(); err != nil {
		return err
	}
	return w.produce(w.cl, w.spans.Parent(), seq, recs)
}

// AddOffsets returns a *connector.InvalidError: consumed offsets commit
// inside a transaction, which only EXACTLY_ONCE has.
func (w *KafkaWriter) AddOffsets(context.Context, string, []ConsumedOffset) error {
	return connector.Invalid("consumed_offsets", "needs the EXACTLY_ONCE delivery guarantee: offsets commit inside the sink's transaction")
}

// Checkpoint answers at once under NONE and under AT_LEAST_ONCE waits until
// Kafka acknowledged every record written so far (Flink's KafkaWriter
// flushes before a checkpoint unless the guarantee is NONE: the checkpoint
// must not complete while a record it covers may still be lost). It
// returns no prepared transactions, and the first record error.
func (w *KafkaWriter) Checkpoint(ctx context.Context, id int64) ([]Prepared, error) {
	if w.guarantee == AtLeastOnce {
		return nil, w.request(ctx, fmt.Sprintf("flushing for checkpoint %d", id), func(context.Context) error { return w.flush(w.cl) })
	}
	return nil, w.Err()
}

// Finish waits until Kafka answered every record written so far, under NONE
// too (Flink's KafkaWriter flushes at the end of input whatever the
// guarantee: records a session wrote before it closed are not dropped), and
// returns the first record error.
func (w *KafkaWriter) Finish(ctx context.Context) error {
	return w.request(ctx, "flushing at close", func(context.Context) error { return w.flush(w.cl) })
}

// Written returns the number of records Kafka acknowledged.
func (w *KafkaWriter) Written() int64 { return w.written.Load() }

// Failed is closed when the writer failed; see Writer.
func (w *KafkaWriter) Failed() <-chan struct{} { return w.failCtx.Done() }

// Err returns the first error, or nil.
func (w *KafkaWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close closes the Kafka client; unflushed records are failed, not written.
func (w *KafkaWriter) Close(context.Context) {
	w.cl.Close()
	w.fail(errClosed)
}

// produce hands recs to cl, the writer's client or, under EXACTLY_ONCE, the
// open transaction's producer, and returns the first record error so far.
// The records' produce spans are children of span.
func (w *KafkaWriter) produce(cl *kgo.Client, span trace.Span, seq int64, recs []*kgo.Record) error {
	batch := w.pending.add(len(recs), time.Now())
	// failCtx, not the caller's: a record's context must live until Kafka
	// answers it, and its end fails the record.
	ctx := recordContext(w.failCtx, span)
	// One callback for the batch: the index of a failed record is looked up
	// only when a record fails.
	promise := func(r *kgo.Record, err error) {
		if batch.left.Add(-1) == 0 {
			w.stats.sendTime.Store(int64(time.Since(batch.at)))
		}
		if err != nil {
			w.stats.recordsOutErrors.Add(1)
			w.fail(&connector.RecordError{Batch: seq, Index: slices.Index(recs, r), Topic: r.Topic, Err: w.recordErr(r, err)})
			return
		}
		w.written.Add(1)
	}
	var bytes int64
	for _, r := range recs {
		if r.Topic == "" {
			r.Topic = w.defaultTopic
		}
		bytes += connector.RecordBytes(r)
		cl.Produce(ctx, r, promise)
	}
	w.stats.bytesOut.Add(bytes)
	return w.Err()
}

// flush waits until Kafka answered every record produced through cl, or
// the writer failed, and returns the first error.
func (w *KafkaWriter) flush(cl *kgo.Client) error {
	if err := cl.Flush(w.failCtx); err != nil {
		if werr := w.Err(); werr != nil {
			return werr
		}
		return err
	}
	return w.Err()
}

// fail records the writer's first error and ends failCtx.
func (w *KafkaWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

// failWhenDone fails the writer when ctx, the caller's, ends before the
// returned stop is called: a Write or checkpoint blocked on Kafka returns
// then.
func (w *KafkaWriter) failWhenDone(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { w.fail(context.Cause(ctx)) })
}

// request runs op, a step of a checkpoint, commit or close that waits for
// Kafka, until it returns, the writer fails (a record timed out, the
// caller's ctx ended) or Kafka has not answered within the delivery
// timeout: then the writer fails with a *connector.UnavailableError naming
// what and the brokers that did not answer.
func (w *KafkaWriter) request(ctx context.Context, what string, op func(context.Context) error) error {
	defer w.failWhenDone(ctx)()
	rctx, cancel := context.WithTimeoutCause(w.failCtx, w.timeout, errNoAnswer)
	defer cancel()
	err := op(rctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(context.Cause(rctx), errNoAnswer):
		w.fail(&connector.UnavailableError{Op: what, Err: fmt.Errorf("%w (%d ms); %s", errNoAnswer, w.timeout.Milliseconds(), w.brokers.Unreachable(time.Now()))})
	}
	if werr := w.Err(); werr != nil {
		return werr
	}
	return err
}

// watch fails the writer when the oldest record Kafka has not answered was
// handed over longer than the delivery timeout ago (Java's
// delivery.timeout.ms, counted from the hand-over, not from the record's
// timestamp as kgo.RecordDeliveryTimeout would). It ends with the writer.
func (w *KafkaWriter) watch() {
	tick := time.NewTicker(min(max(w.timeout/10, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-w.failCtx.Done():
			return
		case now := <-tick.C:
			if at, left := w.pending.oldest(); left > 0 && now.Sub(at) > w.timeout {
				w.fail(&connector.UnavailableError{Op: "delivering records", Err: fmt.Errorf(
					"%s not acknowledged within delivery.timeout.ms (%d ms); %s",
					records(left), w.timeout.Milliseconds(), w.brokers.Unreachable(now))})
				return
			}
		}
	}
}

// recordErr turns franz-go's record errors into connector errors where one
// fits: a missing topic is NOT_FOUND; a record that ran out of time or
// retries, or met a connection that failed, is UNAVAILABLE naming the
// brokers.
func (w *KafkaWriter) recordErr(r *kgo.Record, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return &connector.NotFoundError{Kind: "topic", Name: r.Topic}
	}
	if r.Partition >= 0 && strings.HasPrefix(err.Error(), "invalid record partitioning choice") {
		// franz-go's only word for an explicit partition the topic does
		// not have; it has no typed error for it.
		return &connector.NotFoundError{Kind: "partition", Name: fmt.Sprintf("%s/%d", r.Topic, r.Partition)}
	}
	if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, kgo.ErrRecordRetries) || connector.IsConnectionError(err) {
		return &connector.UnavailableError{Op: "delivering records", Err: fmt.Errorf("%w; %s", err, w.brokers.Unreachable(time.Now()))}
	}
	return err
}

// records says "1 record" or "n records".
func records(n int64) string {
	if n == 1 {
		return "1 record"
	}
	return fmt.Sprintf("%d records", n)
}

// pendingQueue holds, in the order they were handed to franz-go, the
// batches Kafka has not answered completely: the oldest says how long a
// record has waited.
type pendingQueue struct {
	mu sync.Mutex
	q  []*pendingBatch
}

type pendingBatch struct {
	at   time.Time
	left atomic.Int64 // records not answered
}

func (p *pendingQueue) add(n int, now time.Time) *pendingBatch {
	b := &pendingBatch{at: now}
	b.left.Store(int64(n))
	p.mu.Lock()
	p.q = append(p.q, b)
	p.mu.Unlock()
	return b
}

// oldest drops the answered batches at the front and returns when the
// oldest batch with an unanswered record was handed over, and how many
// records are unanswered.
func (p *pendingQueue) oldest() (at time.Time, left int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.q) > 0 && p.q[0].left.Load() <= 0 {
		p.q[0] = nil
		p.q = p.q[1:]
	}
	if len(p.q) == 0 {
		return time.Time{}, 0
	}
	for _, b := range p.q {
		left += b.left.Load()
	}
	return p.q[0].at, left
}
