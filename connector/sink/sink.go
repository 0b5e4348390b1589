// Package sink writes records to Kafka with a delivery guarantee, the way
// Flink's KafkaSink does.
//
// A Writer produces asynchronously: Write hands records to franz-go and
// returns; the first record Kafka refuses makes every later call fail with a
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
	Cluster   connector.Cluster
	Guarantee Guarantee
	// DefaultTopic is the topic of records whose topic is empty.
	DefaultTopic string
	// Partitioner places records whose Partition is NoPartition.
	Partitioner PartitionerKind
	// WriterIndex in [0, Parallelism); used by the fixed partitioner.
	WriterIndex int
	Parallelism int
	// TransactionalIDPrefix names the transactions (EXACTLY_ONCE).
	TransactionalIDPrefix string
	// Restore holds prepared transactions to commit before writing
	// (EXACTLY_ONCE).
	Restore []Prepared
	// Settings from the session's properties; nil means defaults.
	Settings *kafkaconf.Settings
	// ClientID of the Kafka client.
	ClientID string
}

// Writer writes records of one sink session.
type Writer struct {
	cl           *kgo.Client   // NONE, AT_LEAST_ONCE; under EXACTLY_ONCE for admin requests
	txn          *transactions // EXACTLY_ONCE only
	defaultTopic string
	written      atomic.Int64

	mu  sync.Mutex
	err error // first record error, sticky
}

// defaultBufferMemory is Java's buffer.memory default, 32 MiB.
const defaultBufferMemory = 32 << 20

// Open connects a writer. Under EXACTLY_ONCE it first commits the restore
// state's transactions (a *DataLossError when one can no longer be
// committed), then aborts this writer's lingering transactions, then opens
// a transaction. It returns *connector.UnavailableError when Kafka cannot
// be reached.
func Open(ctx context.Context, cfg Config) (*Writer, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Cluster.BootstrapServers...),
		kgo.RecordPartitioner(newPartitioner(cfg.Partitioner, cfg.WriterIndex)),
		// Fail fast on a topic that does not exist instead of waiting for it.
		kgo.UnknownTopicRetries(2),
		// Java's default; franz-go's own would be snappy.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// Java's buffer.memory default bounds each session's unsent
		// records (buffer.memory overrides it); franz-go's own is unbounded.
		kgo.MaxBufferedBytes(defaultBufferMemory),
	}
	if cfg.ClientID != "" {
		opts = append(opts, kgo.ClientID(cfg.ClientID))
	}
	if cfg.Settings == nil {
		cfg.Settings, _ = kafkaconf.Parse(kafkaconf.Producer, nil)
	}
	opts = append(opts, cfg.Settings.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, connector.Invalid("properties", "%v", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, &connector.UnavailableError{Op: "connecting", Err: err}
	}
	w := &Writer{cl: cl, defaultTopic: cfg.DefaultTopic}
	if cfg.Guarantee != ExactlyOnce {
		return w, nil
	}
	if err := w.openTransactions(ctx, cfg, opts); err != nil {
		w.Close(ctx)
		return nil, err
	}
	return w, nil
}

func (w *Writer) openTransactions(ctx context.Context, cfg Config, opts []kgo.Opt) error {
	timeout := cfg.Settings.TransactionTimeout
	for _, p := range cfg.Restore {
		if err := recoverCommit(ctx, w.cl, p); err != nil {
			return err
		}
	}
	if err := abortLingering(ctx, w.cl, cfg.TransactionalIDPrefix, cfg.WriterIndex, timeout); err != nil {
		return err
	}
	w.txn = &transactions{
		prefix: cfg.TransactionalIDPrefix, index: cfg.WriterIndex, version: transactionVersion(ctx, w.cl),
		opts: append(opts, kgo.TransactionTimeout(timeout)), idle: make(map[int]*txnProducer), inUse: make(map[int]bool),
	}
	cur, err := w.txn.take(ctx)
	if err != nil {
		return err
	}
	w.txn.current = cur
	return nil
}

// Prepare pre-commits the open transaction for checkpoint id (EXACTLY_ONCE)
// and returns every prepared transaction not committed yet.
func (w *Writer) Prepare(ctx context.Context, id int64) ([]Prepared, error) {
	if err := w.txn.prepare(ctx, id, w.Flush); err != nil {
		return nil, err
	}
	return w.txn.state(), nil
}

// Commit commits the prepared transactions of checkpoints up to id.
func (w *Writer) Commit(ctx context.Context, id int64) error { return w.txn.commit(ctx, id) }

// Write produces the records of batch seq. A record with an empty topic goes
// to the default topic. It blocks only while franz-go's buffer is full, and
// returns the first error any earlier record met.
func (w *Writer) Write(ctx context.Context, seq int64, recs []*kgo.Record) error {
	if err := w.Err(); err != nil {
		return err
	}
	// One callback for the batch: the index of a failed record is looked up
	// only when a record fails.
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			w.fail(&connector.RecordError{Batch: seq, Index: slices.Index(recs, r), Topic: r.Topic, Err: recordErr(r, err)})
			return
		}
		w.written.Add(1)
	}
	cl := w.cl
	if w.txn != nil {
		cl = w.txn.current.cl
		w.txn.current.records += int64(len(recs))
	}
	for _, r := range recs {
		if r.Topic == "" {
			r.Topic = w.defaultTopic
		}
		cl.Produce(ctx, r, promise)
	}
	return w.Err()
}

// Flush waits until Kafka answered every record written so far, and returns
// the first record error.
func (w *Writer) Flush(ctx context.Context) error {
	cl := w.cl
	if w.txn != nil {
		cl = w.txn.current.cl
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return w.Err()
}

// Written returns the number of records Kafka acknowledged.
func (w *Writer) Written() int64 { return w.written.Load() }

// Err returns the first record error, or nil.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// Close closes the Kafka clients; unflushed records are failed, not
// written. Under EXACTLY_ONCE it aborts the open transaction and leaves the
// prepared ones for a commit after a restore.
func (w *Writer) Close(ctx context.Context) {
	if w.txn != nil {
		w.txn.close(ctx)
	}
	w.cl.Close()
}

// recordErr turns franz-go's record errors into connector errors where one
// fits.
func recordErr(r *kgo.Record, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return &connector.NotFoundError{Kind: "topic", Name: r.Topic}
	}
	return err
}
