package jobstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// Defaults of Config.
const (
	// DefaultTopic is the topic when Config.Topic is empty.
	DefaultTopic = "__ferry_checkpoints"
	// DefaultRetain is how many completed checkpoints of a job are kept
	// when Config.Retain is 0.
	DefaultRetain = 3
)

// Timing of the store, each with its reason.
const (
	// tailWait bounds how long a fetch of the tail waits at the broker for
	// new records (Java's fetch.max.wait.ms, 500 ms by default): a
	// completion written through another ferry reaches this one's
	// WaitCompleted within about this much.
	tailWait = 100 * time.Millisecond
	// retryWait paces retries of the end-offset listing while a new topic
	// is not yet known to every broker.
	retryWait = 100 * time.Millisecond
)

// Config configures a Store.
type Config struct {
	// Cluster is the Kafka cluster that holds the topic; its bootstrap
	// servers are the seeds. Required.
	Cluster connector.Cluster
	// Opts are the cluster's client options (security, client id; from
	// kafkaconf's Settings.ClientOpts), applied after the seeds. They must
	// not consume through a group or produce transactionally: the store
	// adds its own fetch and produce options after them.
	Opts []kgo.Opt
	// Topic is the compacted topic of checkpoints; DefaultTopic when empty.
	Topic string
	// Retain is how many completed checkpoints are kept per job, at least 1;
	// DefaultRetain when 0.
	Retain int
	// Log receives the store's lines; slog.Default() when nil.
	Log *slog.Logger
}

// topicName is Kafka's rule for topic names.
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// withDefaults returns cfg with its defaults, or an *InvalidError.
func (cfg Config) withDefaults() (Config, error) {
	if err := cfg.Cluster.Validate("cluster.bootstrap_servers"); err != nil {
		return cfg, err
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if !topicName.MatchString(cfg.Topic) || cfg.Topic == "." || cfg.Topic == ".." {
		return cfg, connector.Invalid("topic", "%q is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)", cfg.Topic)
	}
	switch {
	case cfg.Retain == 0:
		cfg.Retain = DefaultRetain
	case cfg.Retain < 0:
		return cfg, connector.Invalid("retain", "must be at least 1 (0 means %d), is %d", DefaultRetain, cfg.Retain)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return cfg, nil
}

// Store is the checkpoint store of one cluster: the topic and this ferry's
// index of it. Its methods are safe for concurrent use.
type Store struct {
	cfg      Config
	log      *slog.Logger
	cl       *kgo.Client
	adm      *kadm.Client
	stop     context.CancelFunc
	done     chan struct{} // closed by Close
	tailDone chan struct{} // closed when the tail returns
	once     sync.Once

	mu  sync.RWMutex
	idx *index
	// changed is closed, and replaced, whenever the index changes or the
	// tail reads on: waiters take it under mu, then wait without it.
	changed chan struct{}
	// tailErr is the tail's last fetch error, nil once it reads again.
	tailErr error
}

// Open opens the store of cfg.Cluster: it creates the topic when it is
// missing (one partition, so that every record has one order;
// cleanup.policy=compact; the cluster's default replication factor and
// min.insync.replicas), refuses a topic with more partitions or another
// cleanup policy (*connector.InvalidError), and reads the topic from its
// start into memory. It returns once the index holds every record written
// before it was called, so that the first Latest needs no read; the tail then
// goes on in the background until Close. Kafka failing to answer before ctx
// ends is a *connector.UnavailableError (or ctx's error).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Cluster.BootstrapServers...)}, cfg.Opts...)
	opts = append(opts,
		kgo.FetchMaxWait(tailWait),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // acks=all, idempotent: a write is durable and in order
		kgo.ProducerLinger(0),              // a checkpoint waits on every write
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, &connector.UnavailableError{Op: "creating the checkpoint store's client", Err: err}
	}
	tailCtx, stop := context.WithCancel(context.Background())
	s := &Store{
		cfg: cfg, log: cfg.Log.With("topic", cfg.Topic), cl: cl, adm: kadm.NewClient(cl),
		stop: stop, done: make(chan struct{}), tailDone: make(chan struct{}),
		idx: newIndex(), changed: make(chan struct{}),
	}
	if err := s.ensureTopic(ctx); err != nil {
		stop()
		cl.Close()
		return nil, err
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}})
	go s.tail(tailCtx)
	if err := s.Sync(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.mu.RLock()
	s.log.Info("checkpoint store open", "records_read_to", s.idx.next, "jobs", len(s.idx.jobs))
	s.mu.RUnlock()
	return s, nil
}

// Close stops the tail and closes the store's client. Calls that write or
// wait return ErrClosed afterwards; Latest and States answer from what was
// read.
func (s *Store) Close() {
	s.once.Do(func() {
		close(s.done)
		s.stop()
		<-s.tailDone
		s.cl.Close()
	})
}

// Sync returns once the index holds every record the topic had when it was
// called: after it, Latest and States answer for every checkpoint completed
// through any ferry before the call (without it, up to about 100 ms late).
// Join and Complete sync themselves. Errors: ErrClosed, ctx's error (with
// the tail's last fetch error in its message), or a *connector.UnavailableError
// when the end offset cannot be listed.
func (s *Store) Sync(ctx context.Context) error {
	if s.closed() {
		return ErrClosed
	}
	end, err := s.endOffset(ctx)
	if err != nil {
		return err
	}
	for {
		s.mu.RLock()
		next, changed, tailErr := s.idx.next, s.changed, s.tailErr
		s.mu.RUnlock()
		// The last record before the end is never compacted away
		// (Kafka does not clean the active segment), so the tail
		// reaches the end by reading it.
		if next >= end {
			return nil
		}
		select {
		case <-changed:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			if tailErr != nil {
				return fmt.Errorf("%w while reading topic %q to offset %d (read to %d; last fetch error: %v)", ctx.Err(), s.cfg.Topic, end, next, tailErr)
			}
			return fmt.Errorf("%w while reading topic %q to offset %d (read to %d)", ctx.Err(), s.cfg.Topic, end, next)
		}
	}
}

func (s *Store) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// signal wakes the waiters; mu must be held for writing.
func (s *Store) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ensureTopic creates the topic when it is missing, and checks it when it is
// there.
func (s *Store) ensureTopic(ctx context.Context) error {
	topic := s.cfg.Topic
	topics, err := s.adm.ListTopics(ctx, topic)
	if err != nil {
		return &connector.UnavailableError{Op: fmt.Sprintf("describing topic %q", topic), Err: err}
	}
	if d, ok := topics[topic]; ok && d.Err == nil {
		return s.checkTopic(ctx, d)
	} else if ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return &connector.UnavailableError{Op: fmt.Sprintf("describing topic %q", topic), Err: d.Err}
	}
	_, err = s.adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	switch {
	case err == nil:
		s.log.Info("created the checkpoint topic", "partitions", 1, "cleanup.policy", "compact")
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists): // another ferry created it meanwhile
		return nil
	}
	return &connector.UnavailableError{Op: fmt.Sprintf("creating topic %q", topic), Err: err}
}

// checkTopic refuses a topic that would lose or reorder checkpoints: more
// than one partition, or a cleanup policy other than compact alone (Kafka
// Connect refuses its offset topics the same way). Configs that this client
// may not describe are only logged.
func (s *Store) checkTopic(ctx context.Context, d kadm.TopicDetail) error {
	if n := len(d.Partitions); n != 1 {
		return connector.Invalid("topic", "%q has %d partitions; the checkpoint store needs exactly 1, so that its records have one order", d.Topic, n)
	}
	configs, err := s.adm.DescribeTopicConfigs(ctx, d.Topic)
	var rc kadm.ResourceConfig
	if err == nil {
		rc, err = configs.On(d.Topic, nil)
	}
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		s.log.Warn("cannot check the checkpoint topic's cleanup.policy; it must be compact", "error", err)
		return nil
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && strings.TrimSpace(*c.Value) != "compact" {
			return connector.Invalid("topic", "%q has cleanup.policy=%s; the checkpoint store needs cleanup.policy=compact, or Kafka deletes the checkpoints it keeps", d.Topic, *c.Value)
		}
	}
	return nil
}

// endOffset lists the topic's end offset, retrying while the partition is
// not yet known (a topic just created).
func (s *Store) endOffset(ctx context.Context) (int64, error) {
	for {
		listed, err := s.adm.ListEndOffsets(ctx, s.cfg.Topic)
		if err == nil {
			err = listed.Error()
		}
		if err == nil {
			if o, ok := listed.Lookup(s.cfg.Topic, 0); ok {
				return o.Offset, nil
			}
			err = kerr.UnknownTopicOrPartition
		}
		if !kerr.IsRetriable(err) || ctx.Err() != nil {
			return 0, &connector.UnavailableError{Op: fmt.Sprintf("listing the end offset of topic %q", s.cfg.Topic), Err: err}
		}
		select {
		case <-time.After(retryWait):
		case <-ctx.Done():
		}
	}
}

// tail reads the topic into the index until ctx ends.
func (s *Store) tail(ctx context.Context) {
	defer close(s.tailDone)
	var logged string // the last fetch error logged, so that each is logged once
	for {
		fetches := s.cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		var fetchErr error
		fetches.EachError(func(_ string, _ int32, err error) { fetchErr = err })
		var bad []string
		s.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) {
			if k, ok := parseKey(string(r.Key)); !ok {
				bad = append(bad, fmt.Sprintf("offset %d: key %q is not a checkpoint store key", r.Offset, r.Key))
			} else if err := s.idx.apply(k, r.Value, r.Offset, true); err != nil {
				bad = append(bad, fmt.Sprintf("offset %d: key %q: %v", r.Offset, r.Key, err))
			}
			s.idx.next = r.Offset + 1
		})
		s.tailErr = fetchErr
		s.signal()
		s.mu.Unlock()
		for _, b := range bad {
			s.log.Warn("skipped a record of the checkpoint topic", "record", b)
		}
		switch {
		case fetchErr != nil && fetchErr.Error() != logged:
			s.log.Warn("reading the checkpoint topic failed; retrying", "error", fetchErr)
			logged = fetchErr.Error()
		case fetchErr == nil && logged != "":
			s.log.Info("reading the checkpoint topic again")
			logged = ""
		}
	}
}

// write produces recs with acks=all and waits for them, then applies those
// Kafka took to the index at once (the tail applies them again). what says
// what the records are, for the error.
func (s *Store) write(ctx context.Context, what string, recs ...*kgo.Record) error {
	if s.closed() {
		return ErrClosed
	}
	results := s.cl.ProduceSync(ctx, recs...)
	s.mu.Lock()
	for _, r := range results {
		if r.Err == nil {
			if k, ok := parseKey(string(r.Record.Key)); ok {
				_ = s.idx.apply(k, r.Record.Value, r.Record.Offset, false) // our own encoding
			}
		}
	}
	s.signal()
	s.mu.Unlock()
	if err := results.FirstErr(); err != nil {
		return &connector.UnavailableError{Op: what, Err: err}
	}
	return nil
}
