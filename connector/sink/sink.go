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
package sink

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

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

	mu  sync.Mutex
	err error // first record error, sticky
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
	opts := clientOpts(cfg)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, connector.Invalid("properties", "%v", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, &connector.UnavailableError{Op: "connecting", Err: err}
	}
	w := &KafkaWriter{cl: cl, guarantee: cfg.Guarantee, defaultTopic: cfg.DefaultTopic}
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
// of kafkaconf (Java's where franz-go's differ), then cfg.Settings, and the
// partitioner.
func clientOpts(cfg Config) []kgo.Opt {
	return append(cfg.Settings.ClientOpts(cfg.Cluster, cfg.ClientID),
		kgo.RecordPartitioner(newPartitioner(cfg.Partitioner, cfg.WriterIndex)))
}

// Write produces the records of batch seq; see Writer.
func (w *KafkaWriter) Write(ctx context.Context, seq int64, recs []*kgo.Record) error {
	if err := w.Err(); err != nil {
		return err
	}
	return w.produce(ctx, w.cl, seq, recs)
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
func (w *KafkaWriter) Checkpoint(ctx context.Context, _ int64) ([]Prepared, error) {
	if w.guarantee == AtLeastOnce {
		return nil, w.flush(ctx, w.cl)
	}
	return nil, w.Err()
}

// Finish waits until Kafka answered every record written so far, under NONE
// too (Flink's KafkaWriter flushes at the end of input whatever the
// guarantee: records a session wrote before it closed are not dropped), and
// returns the first record error.
func (w *KafkaWriter) Finish(ctx context.Context) error { return w.flush(ctx, w.cl) }

// Written returns the number of records Kafka acknowledged.
func (w *KafkaWriter) Written() int64 { return w.written.Load() }

// Err returns the first record error, or nil.
func (w *KafkaWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close closes the Kafka client; unflushed records are failed, not written.
func (w *KafkaWriter) Close(context.Context) { w.cl.Close() }

// produce hands recs to cl, the writer's client or, under EXACTLY_ONCE, the
// open transaction's producer, and returns the first record error so far.
func (w *KafkaWriter) produce(ctx context.Context, cl *kgo.Client, seq int64, recs []*kgo.Record) error {
	// One callback for the batch: the index of a failed record is looked up
	// only when a record fails.
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			w.fail(&connector.RecordError{Batch: seq, Index: slices.Index(recs, r), Topic: r.Topic, Err: recordErr(r, err)})
			return
		}
		w.written.Add(1)
	}
	for _, r := range recs {
		if r.Topic == "" {
			r.Topic = w.defaultTopic
		}
		cl.Produce(ctx, r, promise)
	}
	return w.Err()
}

// flush waits until Kafka answered every record produced through cl, and
// returns the first record error.
func (w *KafkaWriter) flush(ctx context.Context, cl *kgo.Client) error {
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return w.Err()
}

func (w *KafkaWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// recordErr turns franz-go's record errors into connector errors where one
// fits.
func recordErr(r *kgo.Record, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return &connector.NotFoundError{Kind: "topic", Name: r.Topic}
	}
	return err
}
