// Package source reads Kafka the way Flink's KafkaSource does: one split per
// topic partition, splits owned by reader index as Flink's enumerator assigns
// them, start and stop offsets resolved once when the reader opens, and the
// next offset of every split tracked so that a checkpoint can record it.
//
// A Reader is not safe for concurrent use: one goroutine polls it (Commit
// and Health excepted). Like Kafka's consumer it keeps retrying while
// brokers fail or hang; Health tells for how long they have.
package source

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// NoStop is the stopping offset of a split that never finishes.
const NoStop int64 = -1

// OffsetKind is a kind of offsets initializer (Flink's OffsetsInitializer).
type OffsetKind int

const (
	// Earliest is the first offset of each partition (the default start).
	Earliest OffsetKind = iota
	// Latest is the end of each partition when the reader opens: the high
	// watermark, or the last stable offset under read_committed.
	Latest
	// Committed is the group's committed offset, Reset for partitions
	// without one.
	Committed
	// Timestamp is the first offset whose record timestamp is >= TimestampMs,
	// or the end of the partition when there is none.
	Timestamp
	// Specific takes the offset of each partition from Specific, Reset for
	// partitions not listed.
	Specific
)

// ResetStrategy is what an initializer does for a partition it has no
// offset for (Kafka's OffsetResetStrategy).
type ResetStrategy int

const (
	// ResetNone fails with a *connector.NoOffsetError naming the partition.
	ResetNone ResetStrategy = iota
	// ResetEarliest takes the partition's first offset.
	ResetEarliest
	// ResetLatest takes the partition's end.
	ResetLatest
)

// TopicPartition names a partition. It is the one name for a partition in
// the connector, the sessions and the server (Flink's KafkaTopicPartition).
type TopicPartition struct {
	Topic     string
	Partition int32
}

// less orders partitions by topic, then partition: the order of splits in
// Opened, in barrier states and in Reader.Splits.
func (a TopicPartition) less(b TopicPartition) bool {
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	return a.Partition < b.Partition
}

// SortTopicPartitions sorts items by the TopicPartition that key returns.
func SortTopicPartitions[T any](items []T, key func(*T) TopicPartition) {
	sort.Slice(items, func(i, j int) bool { return key(&items[i]).less(key(&items[j])) })
}

// Offsets picks an offset for every split (Flink's OffsetsInitializer).
type Offsets struct {
	Kind OffsetKind
	// Reset applies to Committed and Specific.
	Reset ResetStrategy
	// TimestampMs applies to Timestamp.
	TimestampMs int64
	// Specific applies to Specific.
	Specific map[TopicPartition]int64
}

// Config describes a reader.
type Config struct {
	Cluster connector.Cluster
	// The subscription, exactly one of: Topics (each must exist), Pattern
	// (matched against whole topic names) or Partitions (each must exist).
	Topics     []string
	Pattern    *regexp.Regexp
	Partitions []TopicPartition
	// TopicFilter, when set, hides topics from a Pattern subscription (at
	// open and in discovery): the topics the session's principal may not
	// read, as Kafka's ACL-filtered metadata would.
	TopicFilter func(topic string) bool
	// ReaderIndex in [0, Parallelism).
	ReaderIndex int
	// Parallelism >= 1.
	Parallelism int
	// Start offsets; the zero value is Earliest.
	Start Offsets
	// Stop offsets, or nil for none.
	Stop *Offsets
	// Bounded turns partition discovery off, as in Flink.
	Bounded bool
	// Restore, when not empty, is the union of the split states of all
	// readers at one checkpoint: this reader resumes the splits it owns
	// exactly at their next offsets, with their stopping offsets; owned
	// partitions missing from it start at earliest.
	Restore []SplitState
	// GroupID is the consumer group; required for Committed offsets.
	GroupID string
	// Settings from the session's properties; nil means defaults.
	Settings *kafkaconf.Settings
	// ClientID of the Kafka client.
	ClientID string
	// Hooks are added to the Kafka client after the connector's own, in
	// order: how the caller observes it (traces, metrics) without the
	// connector knowing of them.
	Hooks []kgo.Hook
}

// Split is one topic partition owned by a reader, with the offsets it starts
// and stops at: Flink's KafkaPartitionSplit. It does not change once the
// reader has resolved it.
type Split struct {
	TopicPartition
	// Start is the first offset the reader emits.
	Start int64
	// Stop is the offset at which the split finishes (exclusive), or NoStop.
	Stop int64
}

// FinishedAtStart reports whether the split has nothing to read: its start
// is at or past its stop.
func (s Split) FinishedAtStart() bool { return s.Stop != NoStop && s.Start >= s.Stop }

// SplitState is a split with its reading position: Flink's
// KafkaPartitionSplitState. A checkpoint records it, and a restore resumes
// each split at Next, so nothing before Next is emitted again and nothing
// from Next on is skipped.
type SplitState struct {
	Split
	// Next is the next offset to emit: one past the last record delivered
	// (or past the control records that follow it), or Start.
	Next int64
}

// Finished reports whether the split reached its stop.
func (s SplitState) Finished() bool { return s.Stop != NoStop && s.Next >= s.Stop }

// Batch is what one Poll returns.
type Batch struct {
	// Records in offset order per partition; control records are dropped.
	Records []*kgo.Record
	// Moved holds, for each split that moved, its state once the records
	// above have been delivered (Next may be past the last record when
	// control records or the stop follow it).
	Moved []SplitState
	// Finished are the splits that reached their stop with this batch.
	Finished []Split
	// Added are splits found by partition discovery, from earliest.
	Added []Split
	// Ends are, for each split the batch has records of, its partition's
	// end as the fetch saw it: the last stable offset under
	// read_committed, else the high watermark. What lies between a split's
	// next offset and its end is what the reader has yet to emit (Flink's
	// pendingRecords).
	Ends []PartitionEnd
}

// PartitionEnd is the end offset of a partition as a fetch saw it.
type PartitionEnd struct {
	TopicPartition
	End int64
}

// Reader reads the splits one reader owns.
type Reader struct {
	cl            *kgo.Client
	adm           *kadm.Client
	index         int
	parallelism   int
	stop          *Offsets // stopping offsets of new splits, or nil
	sub           Config   // the subscription, for discovery
	discovery     time.Duration
	nextDiscovery time.Time
	splits        map[TopicPartition]*SplitState
	order         []TopicPartition // sorted, see TopicPartition.less
	open          int              // splits not finished
	hasStop       bool             // splits have stopping offsets
	group         string
	readCommitted bool
	maxPoll       int

	// brokers follows the client's requests for Health; live holds the
	// unfinished splits, whose leaders Health looks at, for the goroutine
	// that calls Health.
	brokers     *connector.Brokers
	live        atomic.Pointer[[]TopicPartition]
	fetchFailed map[TopicPartition]bool // splits whose fetch error is in brokers
}

// answerSlack is how long past fetch.max.wait.ms a broker may take to
// answer before Health counts it as not answering.
const answerSlack = time.Second

// Open resolves the topics, the splits this reader owns and their start and
// stop offsets, and starts fetching. Errors: *connector.NotFoundError for a
// missing topic, *connector.UnavailableError when Kafka cannot be reached.
func Open(ctx context.Context, cfg Config) (*Reader, error) {
	if cfg.Parallelism < 1 || cfg.ReaderIndex < 0 || cfg.ReaderIndex >= cfg.Parallelism {
		return nil, connector.Invalid("reader_index", "must be in [0, parallelism)")
	}
	if cfg.Settings == nil {
		cfg.Settings, _ = kafkaconf.Parse(kafkaconf.Consumer, nil, kafkaconf.Files{})
	}
	brokers := connector.NewBrokers(cfg.Cluster.BootstrapServers, 0)
	opts := append(cfg.Settings.ClientOpts(cfg.Cluster, cfg.ClientID),
		// Control records move a split's position (a barrier after a
		// transaction's commit marker must resume past it); take drops them.
		kgo.KeepControlRecords(),
		kgo.WithHooks(brokers.Hook()), kgo.WithHooks(cfg.Hooks...))
	if cfg.Settings.DiscoveryInterval >= 0 && !cfg.Bounded {
		opts = append(opts, kgo.MetadataMinAge(kafkaconf.DiscoveryMetadataMinAge))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, connector.Invalid("properties", "%v", err)
	}
	// A fetch waits in the broker up to fetch.max.wait.ms for records.
	fetchWait, _ := cl.OptValue(kgo.FetchMaxWait).(time.Duration)
	brokers.SetAnswerIn(fetchWait + answerSlack)
	r := &Reader{
		cl: cl, adm: kadm.NewClient(cl), index: cfg.ReaderIndex, parallelism: cfg.Parallelism, stop: cfg.Stop,
		splits: make(map[TopicPartition]*SplitState), maxPoll: cfg.Settings.MaxPollRecords, group: cfg.GroupID,
		readCommitted: cfg.Settings.ReadCommitted, brokers: brokers, fetchFailed: make(map[TopicPartition]bool),
	}
	r.discovery = -1
	if !cfg.Bounded {
		r.discovery = cfg.Settings.DiscoveryInterval
	}
	r.sub = cfg
	if err := r.resolve(ctx, cfg); err != nil {
		cl.Close()
		return nil, err
	}
	consume := make(map[string]map[int32]kgo.Offset)
	for _, k := range r.order {
		s := r.splits[k]
		if s.Finished() {
			continue
		}
		if consume[k.Topic] == nil {
			consume[k.Topic] = make(map[int32]kgo.Offset)
		}
		consume[k.Topic][k.Partition] = kgo.NewOffset().At(s.Start)
	}
	cl.AddConsumePartitions(consume)
	r.publishLive()
	return r, nil
}

// publishLive stores the unfinished splits for Health.
func (r *Reader) publishLive() {
	live := make([]TopicPartition, 0, r.open)
	for _, k := range r.order {
		if !r.splits[k].Finished() {
			live = append(live, k)
		}
	}
	r.live.Store(&live)
}

// Health reports whether the reader's requests to Kafka are failing, since
// when and why: a broker that leads one of its unfinished splits failed a
// dial, a request or did not answer in time (fetch.max.wait.ms and a
// second), a split's partition has a metadata error, or a fetch or
// partition discovery failed, and none of these succeeded since. The
// reader keeps retrying meanwhile. It is safe to call while another
// goroutine polls.
func (r *Reader) Health(now time.Time) connector.Health {
	var inUse map[int32]bool // nil while a leader is unknown: every broker counts
	if live := r.live.Load(); live != nil {
		inUse = make(map[int32]bool, 1)
		for _, k := range *live {
			leader, _, err := r.cl.PartitionLeader(k.Topic, k.Partition)
			what := fmt.Sprintf("metadata of %s/%d", k.Topic, k.Partition)
			if err != nil {
				r.brokers.Fail(what, err)
			} else {
				r.brokers.Recover(what)
			}
			if leader < 0 {
				inUse = nil
			} else if inUse != nil {
				inUse[leader] = true
			}
		}
	}
	return r.brokers.Health(now, inUse)
}

func (r *Reader) resolve(ctx context.Context, cfg Config) error {
	r.hasStop = cfg.Stop != nil
	partitions, err := subscribe(ctx, r.adm, cfg)
	if err != nil {
		return err
	}
	restored := make(map[TopicPartition]SplitState, len(cfg.Restore))
	for _, st := range cfg.Restore {
		restored[st.TopicPartition] = st
	}
	// A restored split the cluster does not have (partition 9999, a topic
	// deleted since) is refused: taking the state silently would drop it.
	known := make(map[TopicPartition]bool, len(partitions))
	for _, p := range partitions {
		known[p] = true
	}
	for _, st := range cfg.Restore {
		if !known[st.TopicPartition] {
			return fmt.Errorf("restore state: %w", &connector.NotFoundError{Kind: "partition", Name: fmt.Sprintf("%s/%d", st.Topic, st.Partition)})
		}
	}
	// Without a restore state the splits start at the starting offsets; with
	// one, splits missing from it are new partitions and start at earliest,
	// as partitions found by discovery do.
	start := cfg.Start
	if len(cfg.Restore) > 0 {
		start = Offsets{Kind: Earliest}
	}
	_, err = r.addSplits(ctx, partitions, start, restored)
	return err
}

// addSplits takes the partitions this reader owns among ps and does not
// have yet, resolves their start (from restored when there, else from start)
// and stop offsets, and returns them as new splits. The caller starts
// fetching them.
func (r *Reader) addSplits(ctx context.Context, ps []TopicPartition, start Offsets, restored map[TopicPartition]SplitState) ([]Split, error) {
	var owned, fresh []TopicPartition // owned new partitions; those without restored state
	var topics []string               // topics of fresh, for listing offsets
	for _, k := range ps {
		if r.splits[k] != nil || Owner(k.Topic, k.Partition, r.parallelism) != r.index {
			continue
		}
		owned = append(owned, k)
		if _, ok := restored[k]; !ok {
			fresh = append(fresh, k)
			if len(topics) == 0 || topics[len(topics)-1] != k.Topic {
				topics = append(topics, k.Topic)
			}
		}
	}
	if len(owned) == 0 {
		return nil, nil
	}
	var starts, stops map[TopicPartition]int64
	var err error
	if len(fresh) > 0 {
		if starts, err = r.list(ctx, start, fresh, topics); err != nil {
			return nil, err
		}
		if r.stop != nil {
			if stops, err = r.list(ctx, *r.stop, fresh, topics); err != nil {
				return nil, err
			}
		}
	}
	added := make([]Split, 0, len(owned))
	for _, k := range owned {
		sp := Split{TopicPartition: k, Stop: NoStop}
		if st, ok := restored[k]; ok {
			sp.Start, sp.Stop = st.Next, st.Stop
		} else {
			sp.Start = starts[k]
			if stops != nil {
				sp.Stop = stops[k]
			}
		}
		if sp.Stop != NoStop && sp.Stop < sp.Start {
			return nil, connector.Invalid("stopping_offsets", "the stopping offset %d of %s/%d is before its starting offset %d", sp.Stop, k.Topic, k.Partition, sp.Start)
		}
		added = append(added, sp)
	}
	for _, sp := range added {
		r.splits[sp.TopicPartition] = &SplitState{Split: sp, Next: sp.Start}
		r.order = append(r.order, sp.TopicPartition)
		if !sp.FinishedAtStart() {
			r.open++
		}
	}
	SortTopicPartitions(r.order, func(k *TopicPartition) TopicPartition { return *k })
	return added, nil
}

// subscribe resolves the subscription into partitions, sorted by topic and
// partition: every partition of the listed topics, of the topics matching the
// pattern (internal topics excluded, as Kafka's listTopics does), or the
// explicit set. A listed topic or partition that does not exist is a
// *connector.NotFoundError.
func subscribe(ctx context.Context, adm *kadm.Client, cfg Config) ([]TopicPartition, error) {
	// A topic created a moment ago may not be in every broker's metadata
	// yet: look again for up to a second before calling it missing.
	deadline := time.Now().Add(time.Second)
	for {
		ps, err := subscribeOnce(ctx, adm, cfg)
		var nf *connector.NotFoundError
		if !errors.As(err, &nf) || time.Now().After(deadline) {
			return ps, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
}

func subscribeOnce(ctx context.Context, adm *kadm.Client, cfg Config) ([]TopicPartition, error) {
	var names []string // topics to describe; none means all
	switch {
	case cfg.Pattern != nil:
	case len(cfg.Partitions) > 0:
		for _, k := range cfg.Partitions {
			names = append(names, k.Topic)
		}
	default:
		names = cfg.Topics
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return nil, unavailable(fmt.Sprintf("reading metadata of topics %q", names), err)
	}
	topic := func(t string) (kadm.TopicDetail, error) {
		td, ok := md.Topics[t]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			return td, &connector.NotFoundError{Kind: "topic", Name: t}
		case td.Err != nil:
			return td, fmt.Errorf("topic %q: %w", t, td.Err)
		}
		return td, nil
	}
	var out []TopicPartition
	switch {
	case cfg.Pattern != nil:
		for t, td := range md.Topics {
			if td.Err == nil && !td.IsInternal && cfg.Pattern.MatchString(t) && (cfg.TopicFilter == nil || cfg.TopicFilter(t)) {
				for p := range td.Partitions {
					out = append(out, TopicPartition{t, p})
				}
			}
		}
	case len(cfg.Partitions) > 0:
		for _, k := range cfg.Partitions {
			td, err := topic(k.Topic)
			if err != nil {
				return nil, err
			}
			if _, ok := td.Partitions[k.Partition]; !ok {
				return nil, &connector.NotFoundError{Kind: "partition", Name: fmt.Sprintf("%s/%d", k.Topic, k.Partition)}
			}
			out = append(out, k)
		}
	default:
		for _, t := range cfg.Topics {
			td, err := topic(t)
			if err != nil {
				return nil, err
			}
			for p := range td.Partitions {
				out = append(out, TopicPartition{t, p})
			}
		}
	}
	SortTopicPartitions(out, func(k *TopicPartition) TopicPartition { return *k })
	return out, nil
}

// list resolves an offsets initializer for every owned split.
func (r *Reader) list(ctx context.Context, o Offsets, keys []TopicPartition, topics []string) (map[TopicPartition]int64, error) {
	adm := r.adm
	var (
		fromKafka kadm.ListedOffsets // one offset per partition, for Earliest, Latest and Timestamp
		committed kadm.OffsetResponses
		err       error
	)
	switch o.Kind {
	case Earliest:
		fromKafka, err = adm.ListStartOffsets(ctx, topics...)
	case Latest:
		fromKafka, err = r.listEnd(ctx, topics)
	case Timestamp:
		fromKafka, err = adm.ListOffsetsAfterMilli(ctx, o.TimestampMs, topics...)
	case Committed:
		if r.group == "" {
			return nil, connector.Invalid("group_id", "is required with committed offsets")
		}
		committed, err = fetchOffsets(ctx, adm, r.group)
	case Specific:
	default:
		return nil, connector.Invalid("offsets", "unknown kind %d", o.Kind)
	}
	if err != nil {
		return nil, unavailable("listing offsets", err)
	}
	out := make(map[TopicPartition]int64, len(keys))
	var missing []TopicPartition // partitions the initializer has no offset for
	for _, k := range keys {
		switch o.Kind {
		case Committed:
			c, ok := committed.Lookup(k.Topic, k.Partition)
			if ok && c.Err != nil {
				return nil, unavailable("fetching committed offsets", fmt.Errorf("%s/%d: %w", k.Topic, k.Partition, c.Err))
			}
			if !ok || c.At < 0 {
				missing = append(missing, k)
				continue
			}
			out[k] = c.At
		case Specific:
			off, ok := o.Specific[k]
			if !ok {
				missing = append(missing, k)
				continue
			}
			out[k] = off
		default:
			off, err := lookup(fromKafka, k)
			if err != nil {
				return nil, err
			}
			out[k] = off
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	var reset kadm.ListedOffsets
	switch o.Reset {
	case ResetNone:
		k := missing[0]
		return nil, &connector.NoOffsetError{Topic: k.Topic, Partition: k.Partition, Group: r.group}
	case ResetEarliest:
		reset, err = adm.ListStartOffsets(ctx, topics...)
	case ResetLatest:
		reset, err = r.listEnd(ctx, topics)
	}
	if err != nil {
		return nil, unavailable("listing offsets", err)
	}
	for _, k := range missing {
		if out[k], err = lookup(reset, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listEnd lists the end of each partition as this reader sees it: the last
// stable offset under read_committed, else the high watermark.
func (r *Reader) listEnd(ctx context.Context, topics []string) (kadm.ListedOffsets, error) {
	if r.readCommitted {
		return r.adm.ListCommittedOffsets(ctx, topics...)
	}
	return r.adm.ListEndOffsets(ctx, topics...)
}

func lookup(l kadm.ListedOffsets, k TopicPartition) (int64, error) {
	o, ok := l.Lookup(k.Topic, k.Partition)
	switch {
	case !ok:
		return 0, unavailable("listing offsets", fmt.Errorf("no offset for %s/%d", k.Topic, k.Partition))
	case o.Err != nil:
		return 0, unavailable("listing offsets", fmt.Errorf("%s/%d: %w", k.Topic, k.Partition, o.Err))
	}
	return o.Offset, nil
}

// Splits returns the splits this reader owns, sorted by topic and partition,
// with their start and stop offsets.
func (r *Reader) Splits() []Split {
	out := make([]Split, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.splits[k].Split)
	}
	return out
}

// Finished reports whether every split has a stop and reached it. A reader
// that owns no split and has stopping offsets is finished at once.
func (r *Reader) Finished() bool { return r.hasStop && r.open == 0 && r.discovery < 0 }

// Poll blocks until records arrive, splits finish or discovery adds splits,
// and returns them. It returns ctx.Err() when ctx ends, and the Kafka error
// (or an *connector.UnavailableError) when fetching fails for good.
// Retriable errors and failed connections do not end it: franz-go retries,
// as Kafka's consumer does, and Health reports them.
func (r *Reader) Poll(ctx context.Context) (Batch, error) {
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if r.discovery >= 0 {
			if r.nextDiscovery.IsZero() {
				r.nextDiscovery = time.Now().Add(r.discovery)
			}
			pollCtx, cancel = context.WithDeadline(ctx, r.nextDiscovery)
		}
		fetches := r.cl.PollRecords(pollCtx, r.maxPoll)
		cancel()
		if err := ctx.Err(); err != nil {
			return Batch{}, err
		}
		var b Batch
		for _, fe := range fetches.Errors() {
			switch {
			case errors.Is(fe.Err, context.DeadlineExceeded) && pollCtx.Err() != nil:
				// Time to look for new partitions.
			case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, kgo.ErrClientClosed):
				return Batch{}, fe.Err
			case retriable(fe.Err):
				k := TopicPartition{fe.Topic, fe.Partition}
				r.brokers.Fail(fetchWhat(k), fe.Err)
				r.fetchFailed[k] = true
			default:
				return Batch{}, unavailable(fmt.Sprintf("fetching %s/%d", fe.Topic, fe.Partition), fe.Err)
			}
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			r.take(&b, p.Topic, p.Partition, p.Records, r.end(&p.FetchPartition))
		})
		if r.discovery >= 0 && !time.Now().Before(r.nextDiscovery) {
			r.nextDiscovery = time.Now().Add(r.discovery)
			added, err := r.discover(ctx)
			switch {
			case err == nil:
				r.brokers.Recover(discoveryWhat)
			case ctx.Err() != nil:
				return Batch{}, ctx.Err()
			case retriable(err):
				// Kafka's consumer retries its metadata requests too: try
				// again at the next interval, and let Health report it.
				r.brokers.Fail(discoveryWhat, err)
			default:
				return Batch{}, err
			}
			b.Added = added
			for _, sp := range added {
				if sp.FinishedAtStart() {
					b.Finished = append(b.Finished, sp)
				}
			}
		}
		if len(b.Records) > 0 || len(b.Moved) > 0 || len(b.Finished) > 0 || len(b.Added) > 0 {
			return b, nil
		}
	}
}

// discover looks for partitions of the subscription this reader owns and
// does not read yet, and starts reading them from earliest (with the
// stopping offsets of the session, if any).
func (r *Reader) discover(ctx context.Context) ([]Split, error) {
	ps, err := subscribe(ctx, r.adm, r.sub)
	if err != nil {
		var nf *connector.NotFoundError
		if errors.As(err, &nf) {
			return nil, nil // a listed topic is gone; keep reading the rest
		}
		return nil, err
	}
	added, err := r.addSplits(ctx, ps, Offsets{Kind: Earliest}, nil)
	if err != nil || len(added) == 0 {
		return nil, err
	}
	consume := make(map[string]map[int32]kgo.Offset)
	for _, sp := range added {
		if sp.FinishedAtStart() {
			continue
		}
		if consume[sp.Topic] == nil {
			consume[sp.Topic] = make(map[int32]kgo.Offset)
		}
		consume[sp.Topic][sp.Partition] = kgo.NewOffset().At(sp.Start)
	}
	r.cl.AddConsumePartitions(consume)
	r.publishLive()
	return added, nil
}

// discoveryWhat names a failed partition discovery in Health.
const discoveryWhat = "discovering partitions"

// fetchWhat names a failed fetch of split k in Health.
func fetchWhat(k TopicPartition) string { return fmt.Sprintf("fetching %s/%d", k.Topic, k.Partition) }

// retriable reports whether err is one Kafka's consumer retries: a
// retriable Kafka error, a failed connection, or no answer.
func retriable(err error) bool {
	var unavailable *connector.UnavailableError
	return kerr.IsRetriable(err) || connector.IsConnectionError(err) || errors.As(err, &unavailable)
}

// EndAndCommitted returns, for the partitions tps, their end (the last
// stable offset under read_committed, else the high watermark) and the
// group's committed offset (none without a group or a commit). It asks
// Kafka with the reader's own client and is safe to call while another
// goroutine polls.
func (r *Reader) EndAndCommitted(ctx context.Context, tps []TopicPartition) (end, committed map[TopicPartition]int64, err error) {
	end, committed = make(map[TopicPartition]int64), make(map[TopicPartition]int64)
	var topics []string
	for _, tp := range tps {
		if len(topics) == 0 || topics[len(topics)-1] != tp.Topic {
			topics = append(topics, tp.Topic)
		}
	}
	if len(topics) == 0 {
		return end, committed, nil
	}
	listed, err := r.listEnd(ctx, topics)
	if err != nil {
		return end, committed, unavailable("listing end offsets", err)
	}
	for _, tp := range tps {
		if o, ok := listed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil {
			end[tp] = o.Offset
		}
	}
	if r.group == "" {
		return end, committed, nil
	}
	fetched, err := r.adm.FetchOffsets(ctx, r.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return end, committed, nil // a group without commits yet
	}
	if err != nil {
		return end, committed, unavailable("fetching committed offsets", err)
	}
	for _, tp := range tps {
		if o, ok := fetched.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At >= 0 {
			committed[tp] = o.At
		}
	}
	return end, committed, nil
}

// Commit commits offsets (the next offset of each split) to the reader's
// group. It is safe to call while another goroutine polls.
func (r *Reader) Commit(ctx context.Context, offsets []SplitState) error {
	os := make(kadm.Offsets)
	for _, o := range offsets {
		os.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Next, LeaderEpoch: -1})
	}
	resp, err := r.adm.CommitOffsets(ctx, r.group, os)
	if err != nil {
		return unavailable("committing offsets", err)
	}
	return resp.Error()
}

// end is the end of a fetched partition as this reader sees it: the last
// stable offset under read_committed (when the broker sent one), else the
// high watermark.
func (r *Reader) end(p *kgo.FetchPartition) int64 {
	if r.readCommitted && p.LastStableOffset >= 0 {
		return p.LastStableOffset
	}
	return p.HighWatermark
}

// take appends the records of one partition that lie in [next, stop) and
// moves the split on, finishing it at its stop; end is the partition's end
// as the fetch saw it.
func (r *Reader) take(b *Batch, topic string, partition int32, recs []*kgo.Record, end int64) {
	k := TopicPartition{topic, partition}
	s := r.splits[k]
	if s == nil || s.Finished() || len(recs) == 0 {
		return
	}
	b.Ends = append(b.Ends, PartitionEnd{k, end})
	if r.fetchFailed[k] {
		delete(r.fetchFailed, k)
		r.brokers.Recover(fetchWhat(k))
	}
	moved := false
	for _, rec := range recs {
		if rec.Offset < s.Next {
			continue
		}
		if s.Stop != NoStop && rec.Offset >= s.Stop {
			s.Next = s.Stop
			moved = true
			break
		}
		if !rec.Attrs.IsControl() {
			b.Records = append(b.Records, rec)
		}
		s.Next = rec.Offset + 1
		moved = true
	}
	if !moved {
		return
	}
	b.Moved = append(b.Moved, *s)
	if s.Finished() {
		r.open--
		b.Finished = append(b.Finished, s.Split)
		r.cl.RemoveConsumePartitions(map[string][]int32{topic: {partition}})
		r.publishLive()
	}
}

// Close stops fetching and closes the Kafka client.
func (r *Reader) Close() { r.cl.Close() }

func unavailable(op string, err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &connector.UnavailableError{Op: op, Err: err}
}

// fetchOffsets fetches the group's committed offsets, waiting out the
// retriable errors of a group coordinator that is still loading or moving.
func fetchOffsets(ctx context.Context, adm *kadm.Client, group string) (kadm.OffsetResponses, error) {
	for {
		os, err := adm.FetchOffsets(ctx, group)
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || !ke.Retriable {
			return os, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
}
