package sink

import "github.com/twmb/franz-go/pkg/kgo"

// PartitionerKind picks how records without an explicit partition are placed.
type PartitionerKind int

const (
	// DefaultPartitioner is Kafka's: murmur2 of the key (the partition the
	// Java client picks for the same key and partition count), sticky for
	// null keys.
	DefaultPartitioner PartitionerKind = iota
	// FixedPartitioner sends every record of writer i to partition i mod n,
	// as Flink's FlinkFixedPartitioner.
	FixedPartitioner
	// RoundRobinPartitioner sends each record to the next partition.
	RoundRobinPartitioner
)

func newPartitioner(kind PartitionerKind, writerIndex int) kgo.Partitioner {
	var inner kgo.Partitioner
	switch kind {
	case FixedPartitioner:
		inner = kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			return func(_ *kgo.Record, n int) int { return writerIndex % n }
		})
	case RoundRobinPartitioner:
		inner = kgo.RoundRobinPartitioner()
	default:
		inner = kgo.StickyKeyPartitioner(nil)
	}
	return explicitFirst{inner}
}

// explicitFirst keeps a record's explicit partition and lets the inner
// partitioner place the others.
type explicitFirst struct{ inner kgo.Partitioner }

func (p explicitFirst) ForTopic(topic string) kgo.TopicPartitioner {
	inner := p.inner.ForTopic(topic)
	if nb, ok := inner.(kgo.TopicPartitionerOnNewBatch); ok {
		return explicitTopicOnNewBatch{explicitTopic{inner}, nb}
	}
	return explicitTopic{inner}
}

type explicitTopic struct{ inner kgo.TopicPartitioner }

func (p explicitTopic) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition != NoPartition || p.inner.RequiresConsistency(r)
}

func (p explicitTopic) Partition(r *kgo.Record, n int) int {
	if r.Partition != NoPartition {
		return int(r.Partition) // out of range fails the record
	}
	return p.inner.Partition(r, n)
}

type explicitTopicOnNewBatch struct {
	explicitTopic
	nb kgo.TopicPartitionerOnNewBatch
}

func (p explicitTopicOnNewBatch) OnNewBatch() { p.nb.OnNewBatch() }
