package server

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// This file turns validated protobuf messages into connector configurations.
// Every error is a *connector.InvalidError whose Field is the path of the
// offending field in the request, an unsupported feature wrapping
// connector.ErrUnsupported, or a *connector.NotFoundError for an unknown
// cluster name.

// resolveCluster picks the cluster of a spec: absent means "default".
func (s *Server) resolveCluster(field string, c *ferryv1.Cluster) (connector.Cluster, error) {
	if c == nil {
		return s.cluster(field, "default")
	}
	switch {
	case len(c.GetBootstrapServers()) > 0 && c.GetName() != "":
		return connector.Cluster{}, connector.Invalid(field, "set bootstrap_servers or name, not both")
	case c.GetName() != "":
		return s.cluster(field+".name", c.GetName())
	}
	cl := connector.Cluster{BootstrapServers: c.GetBootstrapServers()}
	if len(cl.BootstrapServers) == 0 {
		return cl, connector.Invalid(field+".bootstrap_servers", "must list at least one host:port (or set cluster.name, or leave cluster out for the server's default)")
	}
	return cl, cl.Validate(field + ".bootstrap_servers")
}

func (s *Server) cluster(field, name string) (connector.Cluster, error) {
	if cl, ok := s.cfg.Clusters[name]; ok {
		return cl, nil
	}
	names := make([]string, 0, len(s.cfg.Clusters))
	for n := range s.cfg.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return connector.Cluster{}, fmt.Errorf("%s: %w (configured: %s)", field, &connector.NotFoundError{Kind: "cluster", Name: name}, strings.Join(names, ", "))
}

func parallelism(field string, p *int32, index int32, indexField string) (int, int, error) {
	n := int32(1)
	if p != nil {
		n = *p
	}
	if n < 1 {
		return 0, 0, connector.Invalid(field, "must be >= 1, got %d", n)
	}
	if index < 0 || index >= n {
		return 0, 0, connector.Invalid(indexField, "must be in [0, parallelism=%d), got %d", n, index)
	}
	return int(index), int(n), nil
}

func properties(role kafkaconf.Role, field string, props map[string]string) (*kafkaconf.Settings, error) {
	st, err := kafkaconf.Parse(role, props)
	if ie, ok := err.(*connector.InvalidError); ok {
		return nil, connector.Invalid(field+"."+ie.Field, "%s", ie.Rule)
	}
	return st, err
}

// logIgnored tells, once per session, which properties were accepted but
// have no effect (as in Flink, e.g. value.deserializer). It names keys only:
// values may be secrets.
func (s *Server) logIgnored(ctx context.Context, session string, st *kafkaconf.Settings) {
	if st != nil && len(st.Ignored) > 0 {
		s.log.InfoContext(ctx, "properties accepted without effect, as in Flink", "session", session, "keys", st.Ignored)
	}
}

// sourceOptions reads the session-level options of a source spec whose
// config was already made.
func sourceOptions(spec *ferryv1.SourceSpec, cfg source.Config) (sessions.SourceOptions, error) {
	opts := sessions.SourceOptions{
		CommitOnCheckpoint: cfg.Settings.CommitOffsetsOnCheckpoint,
		AutoCommitInterval: cfg.Settings.AutoCommitInterval,
	}
	ws := spec.GetWatermarkStrategy()
	if ws == nil {
		return opts, nil
	}
	const f = "open.spec.watermark_strategy"
	switch ws.GetKind() {
	case ferryv1.WatermarkKind_WATERMARK_KIND_UNSPECIFIED, ferryv1.WatermarkKind_WATERMARK_KIND_NONE:
		if ws.GetMaxOutOfOrdernessMs() != 0 || ws.IdleTimeoutMs != nil {
			return opts, connector.Invalid(f+".kind", "must be set when max_out_of_orderness_ms or idle_timeout_ms is")
		}
		return opts, nil
	case ferryv1.WatermarkKind_WATERMARK_KIND_MONOTONOUS:
		opts.Watermarks.Kind = source.WatermarkMonotonous
		if ws.GetMaxOutOfOrdernessMs() != 0 {
			return opts, connector.Invalid(f+".max_out_of_orderness_ms", "applies only to WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS")
		}
	case ferryv1.WatermarkKind_WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS:
		opts.Watermarks.Kind = source.WatermarkBoundedOutOfOrderness
		if ws.GetMaxOutOfOrdernessMs() < 0 {
			return opts, connector.Invalid(f+".max_out_of_orderness_ms", "must be >= 0, got %d", ws.GetMaxOutOfOrdernessMs())
		}
		opts.Watermarks.MaxOutOfOrderness = time.Duration(ws.GetMaxOutOfOrdernessMs()) * time.Millisecond
	default:
		return opts, connector.Invalid(f+".kind", "unknown value %d", ws.GetKind())
	}
	if ws.IdleTimeoutMs != nil && ws.GetIdleTimeoutMs() <= 0 {
		return opts, connector.Invalid(f+".idle_timeout_ms", "must be > 0 when set (leave it out for no idleness), got %d", ws.GetIdleTimeoutMs())
	}
	opts.Watermarks.IdleTimeout = time.Duration(ws.GetIdleTimeoutMs()) * time.Millisecond
	return opts, nil
}

func (s *Server) sourceConfig(open *ferryv1.OpenSource) (source.Config, error) {
	var cfg source.Config
	spec := open.GetSpec()
	if spec == nil {
		return cfg, connector.Invalid("open.spec", "is required")
	}
	var err error
	if cfg.ReaderIndex, cfg.Parallelism, err = parallelism("open.parallelism", open.Parallelism, open.GetReaderIndex(), "open.reader_index"); err != nil {
		return cfg, err
	}
	if cfg.Cluster, err = s.resolveCluster("open.spec.cluster", spec.GetCluster()); err != nil {
		return cfg, err
	}
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
		return cfg, connector.Invalid("open.spec.subscription", "exactly one of topics, topic_pattern and partitions is required; none is set")
	case len(kinds) > 1:
		return cfg, connector.Invalid("open.spec.subscription", "exactly one of topics, topic_pattern and partitions is allowed; got %s", strings.Join(kinds, " and "))
	}
	switch kinds[0] {
	case "topic_pattern":
		// Anchored: Java's Pattern.matcher(topic).matches() matches whole names.
		re, err := regexp.Compile(`^(?:` + spec.GetTopicPattern() + `)$`)
		if err != nil {
			return cfg, connector.Invalid("open.spec.topic_pattern", "is not a valid RE2 expression: %v", err)
		}
		cfg.Pattern = re
	case "partitions":
		seen := make(map[source.TopicPartition]bool)
		for i, p := range spec.GetPartitions().GetPartitions() {
			f := fmt.Sprintf("open.spec.partitions.partitions[%d]", i)
			k := source.TopicPartition{Topic: p.GetTopic(), Partition: p.GetPartition()}
			switch {
			case k.Topic == "":
				return cfg, connector.Invalid(f+".topic", "must not be empty")
			case k.Partition < 0:
				return cfg, connector.Invalid(f+".partition", "must be >= 0, got %d", k.Partition)
			case seen[k]:
				return cfg, connector.Invalid(f, "%s/%d is listed twice", k.Topic, k.Partition)
			}
			seen[k] = true
			cfg.Partitions = append(cfg.Partitions, k)
		}
		if len(cfg.Partitions) == 0 {
			return cfg, connector.Invalid("open.spec.partitions.partitions", "must name at least one partition")
		}
	default:
		seen := make(map[string]bool)
		for i, t := range spec.GetTopics().GetTopics() {
			f := fmt.Sprintf("open.spec.topics.topics[%d]", i)
			switch {
			case t == "":
				return cfg, connector.Invalid(f, "must not be empty")
			case seen[t]:
				return cfg, connector.Invalid(f, "topic %q is listed twice", t)
			}
			seen[t] = true
			cfg.Topics = append(cfg.Topics, t)
		}
		if len(cfg.Topics) == 0 {
			return cfg, connector.Invalid("open.spec.topics.topics", "must name at least one topic")
		}
	}
	cfg.GroupID = spec.GetGroupId()
	if cfg.Start, err = offsets("open.spec.starting_offsets", spec.GetStartingOffsets()); err != nil {
		return cfg, err
	}
	switch spec.GetBoundedness() {
	case ferryv1.Boundedness_BOUNDEDNESS_BOUNDED:
		stop := source.Offsets{Kind: source.Latest}
		if spec.GetStoppingOffsets() != nil {
			if stop, err = offsets("open.spec.stopping_offsets", spec.GetStoppingOffsets()); err != nil {
				return cfg, err
			}
		}
		cfg.Stop = &stop
		cfg.Bounded = true
	case ferryv1.Boundedness_BOUNDEDNESS_UNSPECIFIED, ferryv1.Boundedness_BOUNDEDNESS_CONTINUOUS_UNBOUNDED:
		if spec.GetStoppingOffsets() != nil {
			stop, err := offsets("open.spec.stopping_offsets", spec.GetStoppingOffsets())
			if err != nil {
				return cfg, err
			}
			cfg.Stop = &stop
		}
	default:
		return cfg, connector.Invalid("open.spec.boundedness", "unknown value %d", spec.GetBoundedness())
	}
	if cfg.Stop != nil && cfg.Start.Kind == source.Timestamp && cfg.Stop.Kind == source.Timestamp && cfg.Stop.TimestampMs < cfg.Start.TimestampMs {
		return cfg, connector.Invalid("open.spec.stopping_offsets.timestamp_ms", "%d is before the starting timestamp %d", cfg.Stop.TimestampMs, cfg.Start.TimestampMs)
	}
	if cfg.Settings, err = properties(kafkaconf.Consumer, "open.spec", spec.GetProperties()); err != nil {
		return cfg, err
	}
	if g := cfg.Settings.GroupID; g != "" {
		if cfg.GroupID != "" && cfg.GroupID != g {
			return cfg, connector.Invalid(`open.spec.properties["group.id"]`, "%q differs from open.spec.group_id %q; set one", g, cfg.GroupID)
		}
		cfg.GroupID = g
	}
	if cfg.GroupID == "" && (cfg.Start.Kind == source.Committed || (cfg.Stop != nil && cfg.Stop.Kind == source.Committed)) {
		return cfg, connector.Invalid("open.spec.group_id", "is required with committed starting or stopping offsets")
	}
	seen := make(map[source.TopicPartition]bool)
	for i, st := range open.GetRestore().GetSplits() {
		f := fmt.Sprintf("open.restore.splits[%d]", i)
		k := source.TopicPartition{Topic: st.GetTopic(), Partition: st.GetPartition()}
		switch {
		case k.Topic == "":
			return cfg, connector.Invalid(f+".topic", "must not be empty")
		case k.Partition < 0:
			return cfg, connector.Invalid(f+".partition", "must be >= 0, got %d", k.Partition)
		case st.GetNextOffset() < 0:
			return cfg, connector.Invalid(f+".next_offset", "must be >= 0, got %d", st.GetNextOffset())
		case st.StoppingOffset != nil && st.GetStoppingOffset() < st.GetNextOffset():
			return cfg, connector.Invalid(f+".stopping_offset", "must be >= next_offset %d, got %d", st.GetNextOffset(), st.GetStoppingOffset())
		case seen[k]:
			return cfg, connector.Invalid(f, "%s/%d is listed twice", k.Topic, k.Partition)
		}
		seen[k] = true
		stop := source.NoStop
		if st.StoppingOffset != nil {
			stop = st.GetStoppingOffset()
		}
		cfg.Restore = append(cfg.Restore, source.SplitState{Topic: k.Topic, Partition: k.Partition, Next: st.GetNextOffset(), Stop: stop})
	}
	return cfg, nil
}

func offsets(field string, o *ferryv1.OffsetsInitializer) (source.Offsets, error) {
	if o == nil {
		return source.Offsets{Kind: source.Earliest}, nil
	}
	switch k := o.GetKind().(type) {
	case *ferryv1.OffsetsInitializer_Earliest_:
		return source.Offsets{Kind: source.Earliest}, nil
	case *ferryv1.OffsetsInitializer_Latest_:
		return source.Offsets{Kind: source.Latest}, nil
	case *ferryv1.OffsetsInitializer_Committed_:
		reset, err := resetStrategy(field+".committed.reset_strategy", k.Committed.GetResetStrategy(), source.ResetNone)
		return source.Offsets{Kind: source.Committed, Reset: reset}, err
	case *ferryv1.OffsetsInitializer_TimestampMs:
		if k.TimestampMs < 0 || k.TimestampMs > maxTimestampMs {
			return source.Offsets{}, connector.Invalid(field+".timestamp_ms", "must be in 0..%d (ms since the Unix epoch, before year 10000), got %d", int64(maxTimestampMs), k.TimestampMs)
		}
		return source.Offsets{Kind: source.Timestamp, TimestampMs: k.TimestampMs}, nil
	case *ferryv1.OffsetsInitializer_Specific_:
		reset, err := resetStrategy(field+".specific.reset_strategy", k.Specific.GetResetStrategy(), source.ResetEarliest)
		if err != nil {
			return source.Offsets{}, err
		}
		out := source.Offsets{Kind: source.Specific, Reset: reset, Specific: make(map[source.TopicPartition]int64)}
		for i, po := range k.Specific.GetOffsets() {
			f := fmt.Sprintf("%s.specific.offsets[%d]", field, i)
			tp := source.TopicPartition{Topic: po.GetTopic(), Partition: po.GetPartition()}
			switch _, dup := out.Specific[tp]; {
			case tp.Topic == "":
				return source.Offsets{}, connector.Invalid(f+".topic", "must not be empty")
			case tp.Partition < 0:
				return source.Offsets{}, connector.Invalid(f+".partition", "must be >= 0, got %d", tp.Partition)
			case po.GetOffset() < 0:
				return source.Offsets{}, connector.Invalid(f+".offset", "must be >= 0, got %d", po.GetOffset())
			case dup:
				return source.Offsets{}, connector.Invalid(f, "%s/%d is listed twice", tp.Topic, tp.Partition)
			}
			out.Specific[tp] = po.GetOffset()
		}
		return out, nil
	}
	return source.Offsets{}, connector.Invalid(field, "set one of earliest, latest, committed, timestamp_ms, specific")
}

// maxTimestampMs is 9999-12-31T23:59:59.999Z.
const maxTimestampMs = 253402300799999

func resetStrategy(field string, r ferryv1.OffsetResetStrategy, def source.ResetStrategy) (source.ResetStrategy, error) {
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

func (s *Server) sinkConfig(open *ferryv1.OpenSink) (sink.Config, error) {
	var cfg sink.Config
	spec := open.GetSpec()
	if spec == nil {
		return cfg, connector.Invalid("open.spec", "is required")
	}
	var err error
	if cfg.WriterIndex, cfg.Parallelism, err = parallelism("open.parallelism", open.Parallelism, open.GetWriterIndex(), "open.writer_index"); err != nil {
		return cfg, err
	}
	if cfg.Cluster, err = s.resolveCluster("open.spec.cluster", spec.GetCluster()); err != nil {
		return cfg, err
	}
	switch spec.GetDeliveryGuarantee() {
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_UNSPECIFIED, ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_NONE:
		cfg.Guarantee = sink.None
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE:
		cfg.Guarantee = sink.AtLeastOnce
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE:
		if spec.GetTransactionalIdPrefix() == "" {
			return cfg, connector.Invalid("open.spec.transactional_id_prefix", "is required with DELIVERY_GUARANTEE_EXACTLY_ONCE")
		}
		if strings.ContainsAny(spec.GetTransactionalIdPrefix(), " \t\n") {
			return cfg, connector.Invalid("open.spec.transactional_id_prefix", "must not contain white space")
		}
		cfg.Guarantee = sink.ExactlyOnce
	default:
		return cfg, connector.Invalid("open.spec.delivery_guarantee", "unknown value %d", spec.GetDeliveryGuarantee())
	}
	switch spec.GetPartitioner() {
	case ferryv1.Partitioner_PARTITIONER_UNSPECIFIED, ferryv1.Partitioner_PARTITIONER_DEFAULT:
		cfg.Partitioner = sink.DefaultPartitioner
	case ferryv1.Partitioner_PARTITIONER_FIXED:
		cfg.Partitioner = sink.FixedPartitioner
	case ferryv1.Partitioner_PARTITIONER_ROUND_ROBIN:
		cfg.Partitioner = sink.RoundRobinPartitioner
	default:
		return cfg, connector.Invalid("open.spec.partitioner", "unknown value %d", spec.GetPartitioner())
	}
	cfg.DefaultTopic = spec.GetDefaultTopic()
	if cfg.Settings, err = properties(kafkaconf.Producer, "open.spec", spec.GetProperties()); err != nil {
		return cfg, err
	}
	cfg.TransactionalIDPrefix = spec.GetTransactionalIdPrefix()
	if n := len(open.GetRestore().GetTransactions()); n > 0 && cfg.Guarantee != sink.ExactlyOnce {
		return cfg, connector.Invalid("open.restore.transactions", "only EXACTLY_ONCE sessions restore transactions (got %d)", n)
	}
	for i, t := range open.GetRestore().GetTransactions() {
		f := fmt.Sprintf("open.restore.transactions[%d]", i)
		switch {
		case !strings.HasPrefix(t.GetTransactionalId(), fmt.Sprintf("%s-%d-", cfg.TransactionalIDPrefix, cfg.WriterIndex)):
			return cfg, connector.Invalid(f+".transactional_id", "%q is not a transactional id of prefix %q and writer %d", t.GetTransactionalId(), cfg.TransactionalIDPrefix, cfg.WriterIndex)
		case t.GetProducerId() < 0:
			return cfg, connector.Invalid(f+".producer_id", "must be >= 0, got %d", t.GetProducerId())
		case t.GetProducerEpoch() < 0 || t.GetProducerEpoch() > 32767:
			return cfg, connector.Invalid(f+".producer_epoch", "must be in 0..32767, got %d", t.GetProducerEpoch())
		}
		cfg.Restore = append(cfg.Restore, sink.Prepared{
			TransactionalID: t.GetTransactionalId(), ProducerID: t.GetProducerId(), ProducerEpoch: int16(t.GetProducerEpoch()),
			CheckpointID: t.GetCheckpointId(), TransactionVersion: t.GetTransactionVersion(),
		})
	}
	return cfg, nil
}

// sinkRecords converts and checks the records of one batch.
func sinkRecords(b *ferryv1.WriteBatch, defaultTopic string) ([]*kgo.Record, error) {
	in := b.GetRecords()
	out := make([]*kgo.Record, len(in))
	slab := make([]kgo.Record, len(in)) // one allocation for the batch
	for i, r := range in {
		field := func(name string) string { // built only for an error
			return fmt.Sprintf("records.records[%d] (batch sequence %d).%s", i, b.GetSequence(), name)
		}
		if r.GetTopic() == "" && defaultTopic == "" {
			return nil, connector.Invalid(field("topic"), "is empty and the spec has no default_topic")
		}
		rec := &slab[i]
		rec.Topic, rec.Key, rec.Value, rec.Partition = r.GetTopic(), r.Key, r.Value, sink.NoPartition
		if r.Partition != nil {
			if *r.Partition < 0 {
				return nil, connector.Invalid(field("partition"), "must be >= 0, got %d", *r.Partition)
			}
			rec.Partition = *r.Partition
		}
		if r.TimestampMs != nil {
			if *r.TimestampMs < 0 {
				return nil, connector.Invalid(field("timestamp_ms"), "must be >= 0, got %d", *r.TimestampMs)
			}
			rec.Timestamp = msToTime(*r.TimestampMs)
		}
		if len(r.GetHeaders()) > 0 {
			rec.Headers = make([]kgo.RecordHeader, len(r.GetHeaders()))
			for j, h := range r.GetHeaders() {
				rec.Headers[j] = kgo.RecordHeader{Key: h.GetKey(), Value: h.Value}
			}
		}
		out[i] = rec
	}
	return out, nil
}

// consumedOffsets converts and checks the source offsets of a batch; nil
// when it carries none.
func consumedOffsets(b *ferryv1.WriteBatch, g sink.Guarantee) (string, []sink.ConsumedOffset, error) {
	co := b.GetConsumedOffsets()
	if co == nil {
		return "", nil, nil
	}
	field := fmt.Sprintf("records.consumed_offsets (batch sequence %d)", b.GetSequence())
	switch {
	case g != sink.ExactlyOnce:
		return "", nil, connector.Invalid(field, "needs DELIVERY_GUARANTEE_EXACTLY_ONCE: offsets commit inside the sink's transaction")
	case co.GetGroupId() == "":
		return "", nil, connector.Invalid(field+".group_id", "is required")
	case len(co.GetOffsets()) == 0:
		return "", nil, connector.Invalid(field+".offsets", "must list at least one partition")
	}
	out := make([]sink.ConsumedOffset, len(co.GetOffsets()))
	for i, o := range co.GetOffsets() {
		f := fmt.Sprintf("%s.offsets[%d]", field, i)
		switch {
		case o.GetTopic() == "":
			return "", nil, connector.Invalid(f+".topic", "must not be empty")
		case o.GetPartition() < 0:
			return "", nil, connector.Invalid(f+".partition", "must be >= 0, got %d", o.GetPartition())
		case o.GetOffset() < 0:
			return "", nil, connector.Invalid(f+".offset", "must be >= 0, got %d", o.GetOffset())
		}
		out[i] = sink.ConsumedOffset{Topic: o.GetTopic(), Partition: o.GetPartition(), Offset: o.GetOffset()}
	}
	return co.GetGroupId(), out, nil
}
