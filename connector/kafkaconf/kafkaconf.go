// Package kafkaconf maps Kafka properties, by their Java names, onto franz-go
// options, through one table (Table). Each entry states its default, the
// franz-go option it becomes and the roles (consumer, producer) it applies to.
//
// Keys that Flink's connector overrides are accepted and behave as in Flink:
// key/value (de)serializers are meaningless because payloads are raw bytes,
// and auto.offset.reset comes from the source's starting offsets. Any other
// key missing from the table is refused with an error that names it.
package kafkaconf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// Role says which kind of client a property applies to.
type Role uint8

const (
	// Consumer is a source session.
	Consumer Role = 1 << iota
	// Producer is a sink session.
	Producer
)

func (r Role) String() string {
	switch r {
	case Consumer:
		return "consumer"
	case Producer:
		return "producer"
	default:
		return "consumer, producer"
	}
}

// Settings is the result of parsing properties: franz-go options plus the
// connector's own options.
type Settings struct {
	// Opts are the franz-go options, in table order.
	Opts []kgo.Opt
	// ClientID is client.id; empty means derive one from ClientIDPrefix.
	ClientID string
	// ClientIDPrefix is client.id.prefix (DefaultClientIDPrefix).
	ClientIDPrefix string
	// ReadCommitted is true with isolation.level=read_committed.
	ReadCommitted bool
	// GroupID is group.id, an alternative to the spec's group id.
	GroupID string
	// CommitOffsetsOnCheckpoint is commit.offsets.on.checkpoint
	// (DefaultCommitOffsetsOnCheckpoint): a completed checkpoint commits its
	// offsets to the group.
	CommitOffsetsOnCheckpoint bool
	// AutoCommitInterval is auto.commit.interval.ms when
	// enable.auto.commit=true, else 0 (the default, as Flink sets it).
	AutoCommitInterval time.Duration
	// DiscoveryInterval is partition.discovery.interval.ms; negative
	// (DefaultDiscoveryInterval) means off.
	DiscoveryInterval time.Duration
	// PrefetchMaxBytes is prefetch.max.bytes (DefaultPrefetchMaxBytes): the
	// bytes of records a source session fetches ahead of its client.
	PrefetchMaxBytes int
	// BufferMemory is buffer.memory: the bytes of records a sink session
	// holds until Kafka acknowledges them; 0 means DefaultBufferMemory.
	BufferMemory int
	// TransactionTimeout is transaction.timeout.ms
	// (DefaultTransactionTimeout).
	TransactionTimeout time.Duration
	// DeliveryTimeout is delivery.timeout.ms (DefaultDeliveryTimeout): how
	// long a sink waits for Kafka to acknowledge a record before it fails
	// with UNAVAILABLE.
	DeliveryTimeout time.Duration
	// UnavailableAfter is kafka.status.unavailable.after.ms
	// (DefaultUnavailableAfter): how long a source's requests to Kafka
	// must have failed before it reports kafka_status unavailable.
	UnavailableAfter time.Duration
	// ClientMetrics is register.consumer.metrics or
	// register.producer.metrics (DefaultClientMetrics): the session's Kafka
	// clients report their own metrics when ferry exports metrics.
	ClientMetrics bool
	// MaxPollRecords is max.poll.records (DefaultMaxPollRecords): records
	// a source takes from its fetch buffer at once.
	MaxPollRecords int
	// Ignored lists keys accepted but without effect, as in Flink.
	Ignored []string

	role               Role  // the role Parse read the properties for
	files              Files // the server files properties may name
	fetchMaxBytesSet   bool  // fetch.max.bytes was given
	autoCommit         bool
	autoCommitInterval time.Duration
	sec                security
}

// Property is one supported key.
type Property struct {
	// Name is the Java property name.
	Name string
	// Roles are the clients it applies to.
	Roles Role
	// Default is the value in effect when the key is absent.
	Default string
	// Option names the franz-go option it maps to, or says how ferry uses it.
	Option string
	// Ignored is true for keys accepted without effect, as in Flink.
	Ignored bool
	// Secret is true for keys whose values must never appear in logs,
	// errors or metrics.
	Secret bool
	apply  func(v string, s *Settings) error
}

// Table lists every supported key, sorted by name.
func Table() []Property {
	out := append(append([]Property(nil), table...), securityTable...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var table = []Property{
	{Name: "client.id", Roles: Consumer | Producer, Default: "{client.id.prefix}-{session id}", Option: "kgo.ClientID",
		apply: func(v string, s *Settings) error { s.ClientID = v; return clientIDRule(v) }},
	{Name: "client.id.prefix", Roles: Consumer | Producer, Default: DefaultClientIDPrefix, Option: "kgo.ClientID (prefix of the generated id)",
		apply: func(v string, s *Settings) error { s.ClientIDPrefix = v; return clientIDRule(v) }},
	{Name: "retry.backoff.ms", Roles: Consumer | Producer, Default: "franz-go's exponential backoff (250 ms to 2.5 s, jittered)", Option: "kgo.RetryBackoffFn (constant)",
		apply: durationMs(0, func(d time.Duration) kgo.Opt {
			return kgo.RetryBackoffFn(func(int) time.Duration { return d })
		})},
	{Name: "metadata.max.age.ms", Roles: Consumer | Producer, Default: "300000", Option: "kgo.MetadataMaxAge",
		apply: durationMs(1, kgo.MetadataMaxAge)},
	{Name: "fetch.max.bytes", Roles: Consumer, Default: "a quarter of prefetch.max.bytes", Option: "kgo.FetchMaxBytes",
		apply: func(v string, s *Settings) error {
			s.fetchMaxBytesSet = true
			return int32Opt(1, func(n int32) kgo.Opt { return kgo.FetchMaxBytes(n) })(v, s)
		}},
	{Name: "group.id", Roles: Consumer, Default: "(the spec's group_id)", Option: "the group offsets are committed to",
		apply: func(v string, s *Settings) error { s.GroupID = v; return nil }},
	{Name: "commit.offsets.on.checkpoint", Roles: Consumer, Default: strconv.FormatBool(DefaultCommitOffsetsOnCheckpoint), Option: "ferry: commit a checkpoint's offsets when it completes (Flink's option)",
		apply: func(v string, s *Settings) error {
			b, err := parseBool(v)
			s.CommitOffsetsOnCheckpoint = b
			return err
		}},
	{Name: "enable.auto.commit", Roles: Consumer, Default: "false", Option: "ferry: commit the offsets of emitted records every auto.commit.interval.ms",
		apply: func(v string, s *Settings) error {
			b, err := parseBool(v)
			s.autoCommit = b
			return err
		}},
	{Name: "auto.commit.interval.ms", Roles: Consumer, Default: ms(DefaultAutoCommitInterval), Option: "ferry: the period of enable.auto.commit",
		apply: func(v string, s *Settings) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("must be an integer number of milliseconds >= 1, not %q", v)
			}
			s.autoCommitInterval = time.Duration(n) * time.Millisecond
			return nil
		}},
	{Name: "partition.discovery.interval.ms", Roles: Consumer, Default: ms(DefaultDiscoveryInterval) + " (off)", Option: "ferry: how often new partitions and topics are looked for; off in bounded mode",
		apply: func(v string, s *Settings) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("must be an integer number of milliseconds, not %q", v)
			}
			if n == 0 {
				n = 1 // 0 asks for discovery as often as possible
			}
			s.DiscoveryInterval = time.Duration(n) * time.Millisecond
			return nil
		}},
	{Name: "prefetch.max.bytes", Roles: Consumer, Default: itoa(DefaultPrefetchMaxBytes), Option: "ferry: bytes fetched ahead of a slow client; fetching pauses beyond it",
		apply: func(v string, s *Settings) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1<<16 {
				return fmt.Errorf("must be an integer number of bytes >= 65536, not %q", v)
			}
			s.PrefetchMaxBytes = int(n)
			return nil
		}},
	{Name: "max.poll.records", Roles: Consumer, Default: itoa(DefaultMaxPollRecords), Option: "ferry: records taken from franz-go's buffer per poll (kgo.Client.PollRecords)",
		apply: func(v string, s *Settings) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("must be an integer >= 1, not %q", v)
			}
			s.MaxPollRecords = n
			return nil
		}},
	{Name: "client.rack", Roles: Consumer, Default: "(none)", Option: "kgo.Rack (fetch from the closest replica)",
		apply: func(v string, s *Settings) error { s.Opts = append(s.Opts, kgo.Rack(v)); return nil }},
	{Name: "check.crcs", Roles: Consumer, Default: "true", Option: "kgo.DisableFetchCRCValidation when false",
		apply: func(v string, s *Settings) error {
			b, err := parseBool(v)
			if err == nil && !b {
				s.Opts = append(s.Opts, kgo.DisableFetchCRCValidation())
			}
			return err
		}},
	{Name: "connections.max.idle.ms", Roles: Consumer | Producer, Default: "30000 (franz-go's)", Option: "kgo.ConnIdleTimeout",
		apply: durationMs(1, kgo.ConnIdleTimeout)},
	{Name: "socket.connection.setup.timeout.ms", Roles: Consumer | Producer, Default: "10000", Option: "kgo.DialTimeout",
		apply: durationMs(1, kgo.DialTimeout)},
	{Name: "max.in.flight.requests.per.connection", Roles: Producer, Default: "1 (franz-go's)", Option: "kgo.MaxProduceRequestsInflightPerBroker",
		apply: func(v string, s *Settings) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("must be an integer >= 1, not %q", v)
			}
			s.Opts = append(s.Opts, kgo.MaxProduceRequestsInflightPerBroker(n))
			return nil
		}},
	{Name: "transaction.timeout.ms", Roles: Producer, Default: ms(DefaultTransactionTimeout), Option: "kgo.TransactionTimeout (EXACTLY_ONCE); above the broker's transaction.max.timeout.ms is refused at open",
		apply: func(v string, s *Settings) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return fmt.Errorf("must be an integer number of milliseconds in 1..2147483647, not %q", v)
			}
			s.TransactionTimeout = time.Duration(n) * time.Millisecond
			return nil
		}},
	{Name: "register.consumer.metrics", Roles: Consumer, Default: "true (as in Flink)", Option: "the Kafka client's metrics (franz-go's plugin/kotel meter: messaging.kafka.*) when ferry exports metrics",
		apply: clientMetrics},
	{Name: "register.producer.metrics", Roles: Producer, Default: "true (as in Flink)", Option: "the Kafka client's metrics (franz-go's plugin/kotel meter: messaging.kafka.*) when ferry exports metrics",
		apply: clientMetrics},
	{Name: "max.partition.fetch.bytes", Roles: Consumer, Default: "1048576", Option: "kgo.FetchMaxPartitionBytes",
		apply: int32Opt(1, func(n int32) kgo.Opt { return kgo.FetchMaxPartitionBytes(n) })},
	{Name: "fetch.min.bytes", Roles: Consumer, Default: "1", Option: "kgo.FetchMinBytes",
		apply: int32Opt(1, func(n int32) kgo.Opt { return kgo.FetchMinBytes(n) })},
	{Name: "fetch.max.wait.ms", Roles: Consumer, Default: "5000 (franz-go's)", Option: "kgo.FetchMaxWait",
		apply: durationMs(1, func(d time.Duration) kgo.Opt { return kgo.FetchMaxWait(d) })},
	{Name: "isolation.level", Roles: Consumer, Default: "read_uncommitted", Option: "kgo.FetchIsolationLevel",
		apply: func(v string, s *Settings) error {
			switch v {
			case "read_uncommitted":
				s.Opts = append(s.Opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
			case "read_committed":
				s.Opts = append(s.Opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
				s.ReadCommitted = true
			default:
				return fmt.Errorf("must be read_uncommitted or read_committed, not %q", v)
			}
			return nil
		}},
	{Name: "key.deserializer", Roles: Consumer, Default: "(ignored)", Option: "none: payloads are raw bytes, as Flink overrides it", Ignored: true, apply: ignore},
	{Name: "value.deserializer", Roles: Consumer, Default: "(ignored)", Option: "none: payloads are raw bytes, as Flink overrides it", Ignored: true, apply: ignore},
	{Name: "auto.offset.reset", Roles: Consumer, Default: "(from the starting offsets)", Option: "none: Flink sets it from the starting offsets", Ignored: true, apply: ignore},
	{Name: "key.serializer", Roles: Producer, Default: "(ignored)", Option: "none: payloads are raw bytes, as Flink overrides it", Ignored: true, apply: ignore},
	{Name: "value.serializer", Roles: Producer, Default: "(ignored)", Option: "none: payloads are raw bytes, as Flink overrides it", Ignored: true, apply: ignore},
	{Name: "acks", Roles: Producer, Default: "all", Option: "kgo.RequiredAcks",
		apply: func(v string, s *Settings) error {
			switch v {
			case "all", "-1":
				s.Opts = append(s.Opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				s.Opts = append(s.Opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				s.Opts = append(s.Opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return fmt.Errorf("must be all, -1, 0 or 1, not %q", v)
			}
			return nil
		}},
	{Name: "linger.ms", Roles: Producer, Default: "10 (franz-go's)", Option: "kgo.ProducerLinger",
		apply: durationMs(0, func(d time.Duration) kgo.Opt { return kgo.ProducerLinger(d) })},
	{Name: "batch.size", Roles: Producer, Default: "1000012 (franz-go's)", Option: "kgo.ProducerBatchMaxBytes",
		apply: int32Opt(1, func(n int32) kgo.Opt { return kgo.ProducerBatchMaxBytes(n) })},
	{Name: "max.request.size", Roles: Producer, Default: "1048576", Option: "kgo.BrokerMaxWriteBytes",
		apply: int32Opt(1, func(n int32) kgo.Opt { return kgo.BrokerMaxWriteBytes(n) })},
	{Name: "compression.type", Roles: Producer, Default: DefaultCompression + " (as Java; franz-go alone would use snappy)", Option: "kgo.ProducerBatchCompression",
		apply: func(v string, s *Settings) error {
			c, err := CompressionCodec(v)
			if err != nil {
				return err
			}
			s.Opts = append(s.Opts, kgo.ProducerBatchCompression(c))
			return nil
		}},
	{Name: "delivery.timeout.ms", Roles: Producer, Default: ms(DefaultDeliveryTimeout) + " (as in Java; franz-go's is unbounded)", Option: "ferry: a record Kafka has not acknowledged this long after the sink handed it over fails the session with UNAVAILABLE naming the unreachable brokers (not kgo.RecordDeliveryTimeout, which counts from the record's timestamp)",
		apply: func(v string, s *Settings) error { return msSetting(v, &s.DeliveryTimeout) }},
	{Name: "kafka.status.unavailable.after.ms", Roles: Consumer, Default: ms(DefaultUnavailableAfter), Option: "ferry: a source whose requests to Kafka have failed this long sends kafka_status (available false), and again when they succeed; it keeps retrying meanwhile",
		apply: func(v string, s *Settings) error { return msSetting(v, &s.UnavailableAfter) }},
	{Name: "retries", Roles: Producer, Default: "unbounded (delivery.timeout.ms limits retries)", Option: "kgo.RecordRetries",
		apply: func(v string, s *Settings) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("must be an integer >= 0, not %q", v)
			}
			s.Opts = append(s.Opts, kgo.RecordRetries(n))
			return nil
		}},
	{Name: "enable.idempotence", Roles: Producer, Default: "true", Option: "kgo.DisableIdempotentWrite when false",
		apply: func(v string, s *Settings) error {
			b, err := parseBool(v)
			if err != nil {
				return err
			}
			if !b {
				s.Opts = append(s.Opts, kgo.DisableIdempotentWrite())
			}
			return nil
		}},
	{Name: "buffer.memory", Roles: Producer, Default: itoa(DefaultBufferMemory) + " (as in Java)", Option: "kgo.MaxBufferedBytes",
		apply: func(v string, s *Settings) error {
			return int32Opt(1, func(n int32) kgo.Opt { s.BufferMemory = int(n); return kgo.MaxBufferedBytes(int(n)) })(v, s)
		}},
}

// Parse checks every key of props against the table for role and returns the
// resulting settings. Properties that name files on the server (truststores,
// keystores) may name only what files allows. An unknown key, a key of the
// other role, a bad value or a refused file is an *connector.InvalidError
// naming "properties[key]".
func Parse(role Role, props map[string]string, files Files) (*Settings, error) {
	s := defaults()
	s.role, s.files = role, files
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := "properties[" + strconv.Quote(k) + "]"
		p, ok := byName[k]
		if !ok {
			return nil, connector.Invalid(field, "unknown %s property; see the README for the supported keys", role)
		}
		if p.Roles&role == 0 {
			return nil, connector.Invalid(field, "is a %s property, not a %s one", p.Roles, role)
		}
		if err := p.apply(strings.TrimSpace(props[k]), s); err != nil {
			if p.Secret && strings.Contains(err.Error(), props[k]) {
				err = fmt.Errorf("has a bad value (not shown: it is secret)")
			}
			return nil, connector.Invalid(field, "%v", err)
		}
		if p.Ignored {
			s.Ignored = append(s.Ignored, k)
		}
	}
	if s.autoCommit {
		s.AutoCommitInterval = s.autoCommitInterval
	}
	if key, err := s.finishSecurity(); err != nil {
		return nil, connector.Invalid("properties["+strconv.Quote(key)+"]", "%v", err)
	}
	return s, nil
}

// ForRole returns the keys of props that apply to role, and the unknown
// ones (so that Parse names them): the operator's cluster properties serve
// sources and sinks alike, each takes its own.
func ForRole(role Role, props map[string]string) map[string]string {
	out := make(map[string]string, len(props))
	for k, v := range props {
		if p, ok := byName[k]; !ok || p.Roles&role != 0 {
			out[k] = v
		}
	}
	return out
}

// byName indexes Table by key.
var byName = func() map[string]Property {
	m := make(map[string]Property)
	for _, p := range Table() {
		m[p.Name] = p
	}
	return m
}()

func ignore(string, *Settings) error { return nil }

// clientMetrics applies register.consumer.metrics and
// register.producer.metrics.
func clientMetrics(v string, s *Settings) error {
	b, err := parseBool(v)
	if err != nil {
		return err
	}
	s.ClientMetrics = b
	return nil
}

// maxClientIDLen bounds client.id and client.id.prefix: they appear in every
// request header and broker log line.
const maxClientIDLen = 255

// clientIDRule refuses client ids that would forge or break broker log lines
// (control characters) or bloat every request (longer than maxClientIDLen).
func clientIDRule(v string) error {
	if len(v) > maxClientIDLen {
		return fmt.Errorf("is %d bytes long; at most %d", len(v), maxClientIDLen)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("must not contain control characters (found %U)", r)
		}
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false, not %q", v)
}

// durationMs parses milliseconds in min..2147483647 (Java's int configs;
// larger values would overflow time.Duration arithmetic downstream).
func durationMs(min int64, opt func(time.Duration) kgo.Opt) func(string, *Settings) error {
	return func(v string, s *Settings) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < min {
			return fmt.Errorf("must be an integer number of milliseconds in %d..2147483647, not %q", min, v)
		}
		s.Opts = append(s.Opts, opt(time.Duration(n)*time.Millisecond))
		return nil
	}
}

// msSetting parses milliseconds in 1..2147483647 into *d.
func msSetting(v string, d *time.Duration) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 {
		return fmt.Errorf("must be an integer number of milliseconds in 1..2147483647, not %q", v)
	}
	*d = time.Duration(n) * time.Millisecond
	return nil
}

func int32Opt(min int32, opt func(int32) kgo.Opt) func(string, *Settings) error {
	return func(v string, s *Settings) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || int32(n) < min {
			return fmt.Errorf("must be an integer in %d..2147483647, not %q", min, v)
		}
		s.Opts = append(s.Opts, opt(int32(n)))
		return nil
	}
}

// CompressionCodec returns the franz-go codec of a compression.type value
// (Java's names: none, gzip, snappy, lz4, zstd); any other name is an error
// that lists them.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("must be none, gzip, snappy, lz4 or zstd, not %q", name)
}
