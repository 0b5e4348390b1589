package kafkaconf

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// The defaults ferry applies to its Kafka clients, each with its reason. This
// is their one home: Parse starts from them, Table documents them (and the
// README's property table is generated from Table), and the source and sink
// get them through Settings.ClientOpts. A default not listed here is
// franz-go's own, and Table says so.
const (
	// DefaultClientIDPrefix is client.id.prefix: client ids are
	// "{prefix}-{session id}", so that broker logs and quotas name the
	// session.
	DefaultClientIDPrefix = "ferry"
	// DefaultCommitOffsetsOnCheckpoint is commit.offsets.on.checkpoint,
	// true as in Flink: completed checkpoints expose progress to the group.
	DefaultCommitOffsetsOnCheckpoint = true
	// DefaultDiscoveryInterval is partition.discovery.interval.ms: off, as
	// the Flink connector document says for ferry's seed (Flink's own
	// builder turns it on at 5 minutes).
	DefaultDiscoveryInterval time.Duration = -1
	// DefaultPrefetchMaxBytes is prefetch.max.bytes: what a source session
	// may fetch ahead of a slow client, 64 MiB (franz-go's own buffering
	// is unbounded). A quarter of it is the default fetch.max.bytes.
	DefaultPrefetchMaxBytes = 64 << 20
	// DefaultMaxPollRecords is max.poll.records: records a source takes
	// from franz-go's buffer at once. Larger than Java's 500 because a poll
	// here feeds a batching sender, not a user callback.
	DefaultMaxPollRecords = 10000
	// DefaultAutoCommitInterval is auto.commit.interval.ms, Java's 5 s; it
	// applies only with enable.auto.commit=true (false by default, as Flink
	// sets it).
	DefaultAutoCommitInterval = 5 * time.Second
	// DefaultTransactionTimeout is transaction.timeout.ms, Kafka's 60 s. It
	// must exceed the checkpoint interval plus the restart time, or the
	// broker aborts prepared transactions before they are committed.
	DefaultTransactionTimeout = time.Minute
	// DefaultDeliveryTimeout is delivery.timeout.ms, Java's 120 s: a sink
	// whose records Kafka has not acknowledged this long after they were
	// handed over fails with UNAVAILABLE naming the brokers it could not
	// reach, instead of waiting silently (franz-go's own default is
	// unbounded). ferry's writer enforces it, counting from the hand-over,
	// and does not pass kgo.RecordDeliveryTimeout: franz-go counts that one
	// from each record's timestamp, so records with event times older than
	// the timeout would fail at once.
	DefaultDeliveryTimeout = 120 * time.Second
	// DefaultUnavailableAfter is kafka.status.unavailable.after.ms: how long
	// a source's requests to Kafka (fetches, metadata) must have failed
	// before it tells its client with kafka_status. The session keeps
	// retrying meanwhile, as Kafka's consumer does; 10 s is two of
	// franz-go's fetch waits, so a broker that restarts quickly is not
	// reported.
	DefaultUnavailableAfter = 10 * time.Second
	// DefaultClientMetrics is register.consumer.metrics and
	// register.producer.metrics: true, as in Flink, so that the Kafka
	// clients' own metrics are there when ferry exports metrics.
	DefaultClientMetrics = true
	// DefaultBufferMemory is buffer.memory, Java's 32 MiB: it bounds a sink
	// session's unsent records (franz-go's own is unbounded).
	DefaultBufferMemory = 32 << 20
	// DefaultCompression is compression.type: none, as Java's producer;
	// franz-go alone would use snappy.
	DefaultCompression = "none"
	// DefaultUnknownTopicRetries is how often a producer retries a topic
	// Kafka does not know before failing the record, so that a sink fails
	// fast on a missing topic instead of waiting for it (franz-go's default
	// retries until the delivery timeout).
	DefaultUnknownTopicRetries = 2
	// DiscoveryMetadataMinAge is the metadata age below which a source with
	// partition discovery does not refresh: discovered partitions need
	// fresh metadata at once, and franz-go's 5 s minimum would delay them.
	DiscoveryMetadataMinAge = 100 * time.Millisecond
)

// defaults returns the settings of an empty property map.
func defaults() *Settings {
	return &Settings{
		ClientIDPrefix:            DefaultClientIDPrefix,
		CommitOffsetsOnCheckpoint: DefaultCommitOffsetsOnCheckpoint,
		DiscoveryInterval:         DefaultDiscoveryInterval,
		PrefetchMaxBytes:          DefaultPrefetchMaxBytes,
		MaxPollRecords:            DefaultMaxPollRecords,
		TransactionTimeout:        DefaultTransactionTimeout,
		DeliveryTimeout:           DefaultDeliveryTimeout,
		UnavailableAfter:          DefaultUnavailableAfter,
		ClientMetrics:             DefaultClientMetrics,
		autoCommitInterval:        DefaultAutoCommitInterval,
	}
}

// roleOpts are the franz-go options every client of role starts with, before
// the options of its properties (which, coming later, override them).
func (s *Settings) roleOpts(role Role) []kgo.Opt {
	switch role {
	case Producer:
		compression, _ := CompressionCodec(DefaultCompression)
		return []kgo.Opt{
			kgo.UnknownTopicRetries(DefaultUnknownTopicRetries),
			kgo.ProducerBatchCompression(compression),
			kgo.MaxBufferedBytes(DefaultBufferMemory),
		}
	case Consumer:
		if !s.fetchMaxBytesSet {
			// One fetch buffered in franz-go, one batch queued and one
			// being sent stay within the prefetch budget.
			return []kgo.Opt{kgo.FetchMaxBytes(int32(s.PrefetchMaxBytes / 4))}
		}
	}
	return nil
}

// ClientOpts returns the options of a franz-go client for cluster with
// client id clientID (none when empty): the seeds, the role's defaults, then
// the options of the properties. Settings from Parse(role, ...) give role's
// options.
func (s *Settings) ClientOpts(cluster connector.Cluster, clientID string) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(cluster.BootstrapServers...)}
	if clientID != "" {
		opts = append(opts, kgo.ClientID(clientID))
	}
	opts = append(opts, s.roleOpts(s.role)...)
	return append(opts, s.Opts...)
}

func itoa(n int) string { return strconv.Itoa(n) }

// ms formats a duration as a property value in milliseconds; negative
// durations (off) are -1.
func ms(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}
