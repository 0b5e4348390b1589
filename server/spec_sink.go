package server

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/sink"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// sinkSpec turns a sink open of principal into the writer's configuration, checking the
// spec part by part in the order of KafkaSinkBuilder: cluster, delivery
// guarantee and transactional id prefix, partitioner, properties, restore
// state.
func (s *Server) sinkSpec(open *ferryv1.OpenSink, principal string) (sink.Config, error) {
	var cfg sink.Config
	spec := open.GetSpec()
	if spec == nil {
		return cfg, connector.Invalid("open.spec", "is required")
	}
	var err error
	if cfg.WriterIndex, cfg.Parallelism, err = parallelismSpec(open.Parallelism, open.GetWriterIndex(), "open.writer_index"); err != nil {
		return cfg, err
	}
	if cfg.Cluster, err = s.clusterSpec("open.spec.cluster", spec.GetCluster()); err != nil {
		return cfg, err
	}
	if cfg.Guarantee, err = guaranteeSpec(spec.GetDeliveryGuarantee(), spec.GetTransactionalIdPrefix()); err != nil {
		return cfg, err
	}
	if cfg.Partitioner, err = partitionerSpec(spec.GetPartitioner()); err != nil {
		return cfg, err
	}
	cfg.DefaultTopic = spec.GetDefaultTopic()
	if cfg.DefaultTopic != "" {
		if err := topicNameSpec("open.spec.default_topic", cfg.DefaultTopic); err != nil {
			return cfg, err
		}
	}
	if cfg.Settings, err = s.propertiesSpec(kafkaconf.Producer, cfg.Cluster, principal, spec.GetProperties()); err != nil {
		return cfg, err
	}
	cfg.TransactionalIDPrefix = spec.GetTransactionalIdPrefix()
	cfg.Restore, err = sinkRestoreSpec(open.GetRestore(), cfg)
	return cfg, err
}

// guaranteeSpec reads the delivery guarantee: NONE by default, as in Flink;
// EXACTLY_ONCE needs a transactional id prefix, as Flink's KafkaSinkBuilder
// checks in build().
func guaranteeSpec(g ferryv1.DeliveryGuarantee, prefix string) (sink.Guarantee, error) {
	switch g {
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_UNSPECIFIED, ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_NONE:
		return sink.None, nil
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE:
		return sink.AtLeastOnce, nil
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE:
		const f = "open.spec.transactional_id_prefix"
		if prefix == "" {
			return 0, connector.Invalid(f, "is required with DELIVERY_GUARANTEE_EXACTLY_ONCE")
		}
		if err := nameSpec(f, prefix); err != nil {
			return 0, err
		}
		if strings.ContainsAny(prefix, " \t\n") {
			return 0, connector.Invalid(f, "must not contain white space")
		}
		return sink.ExactlyOnce, nil
	}
	return 0, connector.Invalid("open.spec.delivery_guarantee", "unknown value %d", g)
}

func partitionerSpec(p ferryv1.Partitioner) (sink.PartitionerKind, error) {
	switch p {
	case ferryv1.Partitioner_PARTITIONER_UNSPECIFIED, ferryv1.Partitioner_PARTITIONER_DEFAULT:
		return sink.DefaultPartitioner, nil
	case ferryv1.Partitioner_PARTITIONER_FIXED:
		return sink.FixedPartitioner, nil
	case ferryv1.Partitioner_PARTITIONER_ROUND_ROBIN:
		return sink.RoundRobinPartitioner, nil
	}
	return 0, connector.Invalid("open.spec.partitioner", "unknown value %d", p)
}

// sinkRestoreSpec reads the prepared transactions of a restore state. Each
// must belong to this writer ({prefix}-{writer index}-{n}): committing
// another writer's transaction would commit records twice or in the wrong
// checkpoint.
func sinkRestoreSpec(state *ferryv1.SinkState, cfg sink.Config) ([]sink.Prepared, error) {
	txns := state.GetTransactions()
	if len(txns) > 0 && cfg.Guarantee != sink.ExactlyOnce {
		return nil, connector.Invalid("open.restore.transactions", "only EXACTLY_ONCE sessions restore transactions (got %d)", len(txns))
	}
	own := fmt.Sprintf("%s-%d-", cfg.TransactionalIDPrefix, cfg.WriterIndex)
	var out []sink.Prepared
	for i, t := range txns {
		f := entryField("open.restore.transactions", i)
		switch {
		case !strings.HasPrefix(t.GetTransactionalId(), own):
			return nil, connector.Invalid(f+".transactional_id", "%q is not a transactional id of prefix %q and writer %d", t.GetTransactionalId(), cfg.TransactionalIDPrefix, cfg.WriterIndex)
		case t.GetProducerId() < 0:
			return nil, connector.Invalid(f+".producer_id", "must be >= 0, got %d", t.GetProducerId())
		case t.GetProducerEpoch() < 0 || t.GetProducerEpoch() > 32767:
			return nil, connector.Invalid(f+".producer_epoch", "must be in 0..32767, got %d", t.GetProducerEpoch())
		}
		out = append(out, sink.Prepared{
			TransactionalID: t.GetTransactionalId(), ProducerID: t.GetProducerId(), ProducerEpoch: int16(t.GetProducerEpoch()),
			CheckpointID: t.GetCheckpointId(), TransactionVersion: t.GetTransactionVersion(),
		})
	}
	return out, nil
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
		if r.GetTopic() != "" && (i == 0 || r.GetTopic() != in[i-1].GetTopic()) {
			// Checked once per run of records of one topic: batches are
			// mostly of one topic, and this is the hot path.
			if err := topicNameSpec(field("topic"), r.GetTopic()); err != nil {
				return nil, err
			}
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
		if n := len(r.GetHeaders()); n > 0 {
			if n > maxHeadersPerRecord {
				return nil, connector.Invalid(field("headers"), "has %d headers; at most %d", n, maxHeadersPerRecord)
			}
			rec.Headers = make([]kgo.RecordHeader, n)
			for j, h := range r.GetHeaders() {
				if len(h.GetKey()) > maxHeaderKeyLen {
					return nil, connector.Invalid(field(fmt.Sprintf("headers[%d].key", j)), "is %d bytes long; at most %d", len(h.GetKey()), maxHeaderKeyLen)
				}
				rec.Headers[j] = kgo.RecordHeader{Key: h.GetKey(), Value: h.Value}
			}
		}
		out[i] = rec
	}
	return out, nil
}

// consumedOffsetsSpec converts and checks the source offsets of a batch;
// nil when it carries none. They commit inside the sink's transaction
// (Kafka's sendOffsetsToTransaction), so only EXACTLY_ONCE takes them.
func consumedOffsetsSpec(b *ferryv1.WriteBatch, g sink.Guarantee) (string, []sink.ConsumedOffset, error) {
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
	if err := nameSpec(field+".group_id", co.GetGroupId()); err != nil {
		return "", nil, err
	}
	out := make([]sink.ConsumedOffset, len(co.GetOffsets()))
	for i, o := range co.GetOffsets() {
		f := entryField(field+".offsets", i)
		if _, err := topicPartitionSpec(f, o.GetTopic(), o.GetPartition(), nil); err != nil {
			return "", nil, err
		}
		if err := offsetSpec(f+".offset", o.GetOffset()); err != nil {
			return "", nil, err
		}
		out[i] = sink.ConsumedOffset{Topic: o.GetTopic(), Partition: o.GetPartition(), Offset: o.GetOffset()}
	}
	return co.GetGroupId(), out, nil
}
