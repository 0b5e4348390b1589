package server

import (
	"regexp"
	"strings"
	"time"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// sourceSpec turns a source open of principal into the reader's
// configuration and the session's options, checking the spec part by part in the order of
// KafkaSourceBuilder: cluster, subscription, offsets, properties (and the
// group id they may carry), restore state, watermarks.
func (s *Server) sourceSpec(open *ferryv1.OpenSource, principal string) (source.Config, sessions.SourceOptions, error) {
	var cfg source.Config
	var opts sessions.SourceOptions
	spec := open.GetSpec()
	if spec == nil {
		return cfg, opts, connector.Invalid("open.spec", "is required")
	}
	var err error
	if cfg.ReaderIndex, cfg.Parallelism, err = parallelismSpec(open.Parallelism, open.GetReaderIndex(), "open.reader_index"); err != nil {
		return cfg, opts, err
	}
	if cfg.Cluster, err = s.clusterSpec("open.spec.cluster", spec.GetCluster()); err != nil {
		return cfg, opts, err
	}
	if err := subscriptionSpec(spec, &cfg); err != nil {
		return cfg, opts, err
	}
	if err := boundsSpec(spec, &cfg); err != nil {
		return cfg, opts, err
	}
	if cfg.Settings, err = s.propertiesSpec(kafkaconf.Consumer, cfg.Cluster, principal, spec.GetProperties()); err != nil {
		return cfg, opts, err
	}
	if cfg.GroupID, err = groupSpec(spec.GetGroupId(), cfg.Settings, cfg.Start, cfg.Stop); err != nil {
		return cfg, opts, err
	}
	if cfg.Restore, err = restoreSpec(open.GetRestore()); err != nil {
		return cfg, opts, err
	}
	if err := restoreInSubscription(cfg); err != nil {
		return cfg, opts, err
	}
	opts.CommitOnCheckpoint = cfg.Settings.CommitOffsetsOnCheckpoint
	opts.AutoCommitInterval = cfg.Settings.AutoCommitInterval
	opts.Watermarks, err = watermarkSpec(spec.GetWatermarkStrategy())
	return cfg, opts, err
}

// subscriptionSpec takes exactly one of the topic list, the topic pattern
// and the partition set, as KafkaSourceBuilder allows one subscription.
func subscriptionSpec(spec *ferryv1.SourceSpec, cfg *source.Config) error {
	var kinds []string
	if spec.GetTopics() != nil {
		kinds = append(kinds, "topics")
	}
	if spec.GetTopicPattern() != "" {
		kinds = append(kinds, "topic_pattern")
	}
	if spec.GetPartitions() != nil {
		kinds = append(kinds, "partitions")
	}
	switch {
	case len(kinds) == 0:
		return connector.Invalid("open.spec.subscription", "exactly one of topics, topic_pattern and partitions is required; none is set")
	case len(kinds) > 1:
		return connector.Invalid("open.spec.subscription", "exactly one of topics, topic_pattern and partitions is allowed; got %s", strings.Join(kinds, " and "))
	}
	var err error
	switch kinds[0] {
	case "topic_pattern":
		cfg.Pattern, err = topicPatternSpec(spec.GetTopicPattern())
	case "partitions":
		cfg.Partitions, err = partitionSetSpec(spec.GetPartitions().GetPartitions())
	default:
		cfg.Topics, err = topicListSpec(spec.GetTopics().GetTopics())
	}
	return err
}

// topicPatternSpec compiles a topic pattern, anchored at both ends: Java's
// Pattern.matcher(topic).matches(), which Flink uses, matches whole names.
func topicPatternSpec(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > maxPatternLen {
		return nil, connector.Invalid("open.spec.topic_pattern", "is %d bytes long; at most %d", len(pattern), maxPatternLen)
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, connector.Invalid("open.spec.topic_pattern", "is not a valid RE2 expression: %v", err)
	}
	return re, nil
}

func topicListSpec(topics []string) ([]string, error) {
	const list = "open.spec.topics.topics"
	if len(topics) == 0 {
		return nil, connector.Invalid(list, "must name at least one topic")
	}
	seen := make(map[string]bool, len(topics))
	for i, t := range topics {
		if err := topicNameSpec(entryField(list, i), t); err != nil {
			return nil, err
		}
		if seen[t] {
			return nil, connector.Invalid(entryField(list, i), "topic %q is listed twice", t)
		}
		seen[t] = true
	}
	return topics, nil
}

func partitionSetSpec(ps []*ferryv1.TopicPartition) ([]source.TopicPartition, error) {
	const list = "open.spec.partitions.partitions"
	out := make([]source.TopicPartition, 0, len(ps))
	seen := make(map[source.TopicPartition]bool, len(ps))
	for i, p := range ps {
		tp, err := topicPartitionSpec(entryField(list, i), p.GetTopic(), p.GetPartition(), seen)
		if err != nil {
			return nil, err
		}
		out = append(out, tp)
	}
	if len(out) == 0 {
		return nil, connector.Invalid(list, "must name at least one partition")
	}
	return out, nil
}

// boundsSpec reads the starting offsets (default earliest), the
// boundedness and the stopping offsets. Bounded without stopping offsets
// stops at latest, as Flink's setBounded(OffsetsInitializer.latest()) does.
func boundsSpec(spec *ferryv1.SourceSpec, cfg *source.Config) error {
	var err error
	if cfg.Start, err = offsetsSpec("open.spec.starting_offsets", spec.GetStartingOffsets()); err != nil {
		return err
	}
	switch spec.GetBoundedness() {
	case ferryv1.Boundedness_BOUNDEDNESS_BOUNDED:
		cfg.Bounded = true
		if spec.GetStoppingOffsets() == nil {
			cfg.Stop = &source.Offsets{Kind: source.Latest}
		}
	case ferryv1.Boundedness_BOUNDEDNESS_UNSPECIFIED, ferryv1.Boundedness_BOUNDEDNESS_CONTINUOUS_UNBOUNDED:
	default:
		return connector.Invalid("open.spec.boundedness", "unknown value %d", spec.GetBoundedness())
	}
	if spec.GetStoppingOffsets() != nil {
		stop, err := offsetsSpec("open.spec.stopping_offsets", spec.GetStoppingOffsets())
		if err != nil {
			return err
		}
		cfg.Stop = &stop
	}
	if cfg.Stop != nil && cfg.Start.Kind == source.Timestamp && cfg.Stop.Kind == source.Timestamp && cfg.Stop.TimestampMs < cfg.Start.TimestampMs {
		return connector.Invalid("open.spec.stopping_offsets.timestamp_ms", "%d is before the starting timestamp %d", cfg.Stop.TimestampMs, cfg.Start.TimestampMs)
	}
	return nil
}

// maxTimestampMs is 9999-12-31T23:59:59.999Z, the last instant Java's
// Instant formats with four year digits; later timestamps are mistakes.
const maxTimestampMs = 253402300799999

// offsetsSpec reads an OffsetsInitializer; absent means earliest.
func offsetsSpec(field string, o *ferryv1.OffsetsInitializer) (source.Offsets, error) {
	if o == nil {
		return source.Offsets{Kind: source.Earliest}, nil
	}
	switch k := o.GetKind().(type) {
	case *ferryv1.OffsetsInitializer_Earliest_:
		return source.Offsets{Kind: source.Earliest}, nil
	case *ferryv1.OffsetsInitializer_Latest_:
		return source.Offsets{Kind: source.Latest}, nil
	case *ferryv1.OffsetsInitializer_Committed_:
		// OffsetsInitializer.committedOffsets() fails on a partition
		// without a committed offset unless a reset strategy is given.
		reset, err := resetStrategySpec(field+".committed.reset_strategy", k.Committed.GetResetStrategy(), source.ResetNone)
		return source.Offsets{Kind: source.Committed, Reset: reset}, err
	case *ferryv1.OffsetsInitializer_TimestampMs:
		if k.TimestampMs < 0 || k.TimestampMs > maxTimestampMs {
			return source.Offsets{}, connector.Invalid(field+".timestamp_ms", "must be in 0..%d (ms since the Unix epoch, before year 10000), got %d", int64(maxTimestampMs), k.TimestampMs)
		}
		return source.Offsets{Kind: source.Timestamp, TimestampMs: k.TimestampMs}, nil
	case *ferryv1.OffsetsInitializer_Specific_:
		return specificOffsetsSpec(field+".specific", k.Specific)
	}
	return source.Offsets{}, connector.Invalid(field, "set one of earliest, latest, committed, timestamp_ms, specific")
}

// specificOffsetsSpec reads explicit offsets; partitions not listed take the
// reset strategy, earliest by default as in OffsetsInitializer.offsets(map).
func specificOffsetsSpec(field string, sp *ferryv1.OffsetsInitializer_Specific) (source.Offsets, error) {
	reset, err := resetStrategySpec(field+".reset_strategy", sp.GetResetStrategy(), source.ResetEarliest)
	if err != nil {
		return source.Offsets{}, err
	}
	out := source.Offsets{Kind: source.Specific, Reset: reset, Specific: make(map[source.TopicPartition]int64)}
	seen := make(map[source.TopicPartition]bool)
	for i, po := range sp.GetOffsets() {
		f := entryField(field+".offsets", i)
		tp, err := topicPartitionSpec(f, po.GetTopic(), po.GetPartition(), seen)
		if err != nil {
			return source.Offsets{}, err
		}
		if err := offsetSpec(f+".offset", po.GetOffset()); err != nil {
			return source.Offsets{}, err
		}
		out.Specific[tp] = po.GetOffset()
	}
	return out, nil
}

func resetStrategySpec(field string, r ferryv1.OffsetResetStrategy, def source.ResetStrategy) (source.ResetStrategy, error) {
	switch r {
	case ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_UNSPECIFIED:
		return def, nil
	case ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_NONE:
		return source.ResetNone, nil
	case ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_EARLIEST:
		return source.ResetEarliest, nil
	case ferryv1.OffsetResetStrategy_OFFSET_RESET_STRATEGY_LATEST:
		return source.ResetLatest, nil
	}
	return 0, connector.Invalid(field, "unknown value %d", r)
}

// groupSpec takes the group id from the spec or from the group.id property
// (they must agree). Without one, committing is off, as in Flink; committed
// starting or stopping offsets need one.
func groupSpec(group string, st *kafkaconf.Settings, start source.Offsets, stop *source.Offsets) (string, error) {
	if err := nameSpec("open.spec.group_id", group); err != nil {
		return "", err
	}
	if err := nameSpec(`open.spec.properties["group.id"]`, st.GroupID); err != nil {
		return "", err
	}
	if g := st.GroupID; g != "" {
		if group != "" && group != g {
			return "", connector.Invalid(`open.spec.properties["group.id"]`, "%q differs from open.spec.group_id %q; set one", g, group)
		}
		group = g
	}
	if group == "" && (start.Kind == source.Committed || (stop != nil && stop.Kind == source.Committed)) {
		return "", connector.Invalid("open.spec.group_id", "is required with committed starting or stopping offsets")
	}
	return group, nil
}

// restoreSpec reads a restore state: the union of split states of one
// checkpoint, each split once, its next offset not past its stop.
func restoreSpec(state *ferryv1.SourceState) ([]source.SplitState, error) {
	var out []source.SplitState
	seen := make(map[source.TopicPartition]bool)
	for i, st := range state.GetSplits() {
		f := entryField("open.restore.splits", i)
		tp, err := topicPartitionSpec(f, st.GetTopic(), st.GetPartition(), seen)
		if err != nil {
			return nil, err
		}
		if err := offsetSpec(f+".next_offset", st.GetNextOffset()); err != nil {
			return nil, err
		}
		stop := source.NoStop
		if st.StoppingOffset != nil {
			if stop = st.GetStoppingOffset(); stop < st.GetNextOffset() {
				return nil, connector.Invalid(f+".stopping_offset", "must be >= next_offset %d, got %d", st.GetNextOffset(), stop)
			}
		}
		out = append(out, source.SplitState{Split: source.Split{TopicPartition: tp, Start: st.GetNextOffset(), Stop: stop}, Next: st.GetNextOffset()})
	}
	return out, nil
}

// restoreInSubscription refuses a restore state that names a split the
// subscription cannot have: a topic not listed, not matching the pattern,
// or a partition outside the partition set. Such a state belongs to another
// source (a mixed-up checkpoint), and taking it silently would start the
// subscription's own splits from earliest. Partitions that do not exist on
// the cluster are refused when the reader resolves its splits.
func restoreInSubscription(cfg source.Config) error {
	topics := make(map[string]bool, len(cfg.Topics))
	for _, t := range cfg.Topics {
		topics[t] = true
	}
	parts := make(map[source.TopicPartition]bool, len(cfg.Partitions))
	for _, tp := range cfg.Partitions {
		parts[tp] = true
	}
	for i, st := range cfg.Restore {
		var in bool
		switch {
		case cfg.Pattern != nil:
			in = cfg.Pattern.MatchString(st.Topic)
		case len(cfg.Partitions) > 0:
			in = parts[st.TopicPartition]
		default:
			in = topics[st.Topic]
		}
		if !in {
			return connector.Invalid(entryField("open.restore.splits", i), "%s/%d is not part of this source's subscription; a restore state must come from a checkpoint of the same source", st.Topic, st.Partition)
		}
	}
	return nil
}

// watermarkSpec reads a watermark strategy (Flink's WatermarkStrategy:
// noWatermarks, forMonotonousTimestamps, forBoundedOutOfOrderness, each
// withIdleness); absent means none.
func watermarkSpec(ws *ferryv1.WatermarkStrategy) (source.WatermarkStrategy, error) {
	var out source.WatermarkStrategy
	if ws == nil {
		return out, nil
	}
	const f = "open.spec.watermark_strategy"
	switch ws.GetKind() {
	case ferryv1.WatermarkKind_WATERMARK_KIND_UNSPECIFIED, ferryv1.WatermarkKind_WATERMARK_KIND_NONE:
		if ws.GetMaxOutOfOrdernessMs() != 0 || ws.IdleTimeoutMs != nil {
			return out, connector.Invalid(f+".kind", "must be set when max_out_of_orderness_ms or idle_timeout_ms is")
		}
		return out, nil
	case ferryv1.WatermarkKind_WATERMARK_KIND_MONOTONOUS:
		out.Kind = source.WatermarkMonotonous
		if ws.GetMaxOutOfOrdernessMs() != 0 {
			return out, connector.Invalid(f+".max_out_of_orderness_ms", "applies only to WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS")
		}
	case ferryv1.WatermarkKind_WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS:
		out.Kind = source.WatermarkBoundedOutOfOrderness
		if ws.GetMaxOutOfOrdernessMs() < 0 {
			return out, connector.Invalid(f+".max_out_of_orderness_ms", "must be >= 0, got %d", ws.GetMaxOutOfOrdernessMs())
		}
		out.MaxOutOfOrderness = time.Duration(ws.GetMaxOutOfOrdernessMs()) * time.Millisecond
	default:
		return out, connector.Invalid(f+".kind", "unknown value %d", ws.GetKind())
	}
	if ws.IdleTimeoutMs != nil && ws.GetIdleTimeoutMs() <= 0 {
		return out, connector.Invalid(f+".idle_timeout_ms", "must be > 0 when set (leave it out for no idleness), got %d", ws.GetIdleTimeoutMs())
	}
	out.IdleTimeout = time.Duration(ws.GetIdleTimeoutMs()) * time.Millisecond
	return out, nil
}
