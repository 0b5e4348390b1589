package dev.ferry.client;

import dev.ferry.v1.Boundedness;
import dev.ferry.v1.Cluster;
import dev.ferry.v1.JobCheckpoints;
import dev.ferry.v1.OpenSource;
import dev.ferry.v1.PartitionSet;
import dev.ferry.v1.SourceSpec;
import dev.ferry.v1.SourceState;
import dev.ferry.v1.TopicList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;

/**
 * A Kafka source with the builder of Flink's KafkaSource; the connector runs in the ferry server.
 *
 * <pre>{@code
 * KafkaSource<String> source = KafkaSource.<String>builder()
 *     .setFerryAddress("127.0.0.1:50051")
 *     .setTopics("input")
 *     .setStartingOffsets(OffsetsInitializer.earliest())
 *     .setBounded(OffsetsInitializer.latest())
 *     .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(new SimpleStringSchema()))
 *     .build();
 * try (SourceReader<String> reader = source.open()) {
 *   for (KafkaRecord<String> r : reader) { ... }
 * }
 * }</pre>
 */
public final class KafkaSource<T> {
  private final SourceSpec spec;
  private final KafkaRecordDeserializationSchema<T> deserializer;
  private final int readerIndex;
  private final int parallelism;
  private final FerryEndpoint endpoint;
  private final JobCheckpoints job;

  private KafkaSource(Builder<T> b, SourceSpec spec, FerryEndpoint endpoint) {
    this.spec = spec;
    this.deserializer = b.deserializer;
    this.readerIndex = b.readerIndex;
    this.parallelism = b.parallelism;
    this.endpoint = endpoint;
    this.job = b.jobCheckpoints();
  }

  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /** The spec sent to the server. */
  public SourceSpec getSpec() {
    return spec;
  }

  /**
   * Opens a reader that starts from the starting offsets, or in a job ({@link Builder#setJob})
   * restores the newest completed checkpoint ferry keeps. Blocks until the server opened it.
   */
  public SourceReader<T> open() {
    return open(null);
  }

  /**
   * Opens a reader that restores {@code restore}: the union of all readers' states of one
   * checkpoint (see {@link SourceReader#checkpoint}); null starts from the starting offsets.
   *
   * @throws IllegalArgumentException for a state with {@link Builder#setJob}, where ferry keeps the
   *     states
   */
  public SourceReader<T> open(SourceState restore) {
    OpenSource.Builder open = OpenSource.newBuilder()
        .setSpec(spec)
        .setReaderIndex(readerIndex)
        .setParallelism(parallelism);
    if (JobSessions.isJob(job)) {
      JobSessions.refuseRestoreState(restore, "source");
      open.setJob(job);
    }
    return endpoint.open(restore, open::setRestore,
        (ch, owned) -> new SourceReader<>(ch, owned, open.build(), deserializer));
  }

  /** Flink's KafkaSourceBuilder. */
  public static final class Builder<T> extends FerryClientBuilder<Builder<T>> {
    private List<String> bootstrapServers;
    private List<String> topics;
    private String topicPattern;
    private Set<TopicPartition> partitions;
    private String groupId = "";
    private OffsetsInitializer startingOffsets;
    private Boundedness boundedness = Boundedness.BOUNDEDNESS_CONTINUOUS_UNBOUNDED;
    private OffsetsInitializer stoppingOffsets;
    private KafkaRecordDeserializationSchema<T> deserializer;
    private final Map<String, String> properties = new LinkedHashMap<>();
    private WatermarkStrategy<?> watermarkStrategy;
    private int readerIndex = 0;
    private int parallelism = 1;

    private Builder() {}

    /** Kafka bootstrap servers, "host:port[,host:port]"; unset uses the server's default cluster. */
    public Builder<T> setBootstrapServers(String bootstrapServers) {
      Objects.requireNonNull(bootstrapServers, "bootstrapServers");
      this.bootstrapServers = Arrays.stream(bootstrapServers.split(","))
          .map(String::trim).filter(s -> !s.isEmpty()).toList();
      return this;
    }

    public Builder<T> setTopics(String... topics) {
      return setTopics(Arrays.asList(topics));
    }

    public Builder<T> setTopics(List<String> topics) {
      this.topics = List.copyOf(topics);
      return this;
    }

    /** A Go RE2 pattern matched against whole topic names by the server. */
    public Builder<T> setTopicPattern(String topicPattern) {
      this.topicPattern = Objects.requireNonNull(topicPattern, "topicPattern");
      return this;
    }

    public Builder<T> setPartitions(Set<TopicPartition> partitions) {
      this.partitions = Set.copyOf(partitions);
      return this;
    }

    public Builder<T> setGroupId(String groupId) {
      this.groupId = Objects.requireNonNull(groupId, "groupId");
      return this;
    }

    public Builder<T> setStartingOffsets(OffsetsInitializer startingOffsets) {
      this.startingOffsets = Objects.requireNonNull(startingOffsets, "startingOffsets");
      return this;
    }

    /** Reads up to {@code stoppingOffsets}, then the reader ends. */
    public Builder<T> setBounded(OffsetsInitializer stoppingOffsets) {
      this.boundedness = Boundedness.BOUNDEDNESS_BOUNDED;
      this.stoppingOffsets = Objects.requireNonNull(stoppingOffsets, "stoppingOffsets");
      return this;
    }

    /** Stays unbounded (partition discovery possible) but stops at {@code stoppingOffsets}. */
    public Builder<T> setUnbounded(OffsetsInitializer stoppingOffsets) {
      this.boundedness = Boundedness.BOUNDEDNESS_CONTINUOUS_UNBOUNDED;
      this.stoppingOffsets = Objects.requireNonNull(stoppingOffsets, "stoppingOffsets");
      return this;
    }

    public Builder<T> setDeserializer(KafkaRecordDeserializationSchema<T> deserializer) {
      this.deserializer = Objects.requireNonNull(deserializer, "deserializer");
      return this;
    }

    /** Deserializes only the value (Flink's setValueOnlyDeserializer). */
    public Builder<T> setValueOnlyDeserializer(DeserializationSchema<T> schema) {
      return setDeserializer(KafkaRecordDeserializationSchema.valueOnly(schema));
    }

    /** The prefix of the Kafka client id (property client.id.prefix). */
    public Builder<T> setClientIdPrefix(String prefix) {
      return setProperty("client.id.prefix", prefix);
    }

    /** A Kafka consumer property or connector option by its Java name. */
    public Builder<T> setProperty(String key, String value) {
      properties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
      return this;
    }

    public Builder<T> setProperties(Properties props) {
      for (String name : props.stringPropertyNames()) {
        properties.put(name, props.getProperty(name));
      }
      return this;
    }

    /**
     * Event-time watermarks, generated by the server from the Kafka record timestamps; what Flink
     * passes as {@code env.fromSource(source, strategy, name)} (the same as Python's
     * {@code set_watermark_strategy}). Unset (the default) means no watermarks, like
     * {@link WatermarkStrategy#noWatermarks()}. Readers report them as {@link SourceEvent}s to
     * {@link SourceReader#setEventListener} and in {@link SourceReader#currentWatermark()}. A
     * strategy the server refuses (for example {@code noWatermarks().withIdleness(d)}) fails
     * {@link KafkaSource#open()} with a {@link FerryException} of INVALID_ARGUMENT naming
     * {@code watermark_strategy}.
     *
     * @param strategy the strategy
     * @return this builder
     * @throws NullPointerException if {@code strategy} is null
     */
    public Builder<T> setWatermarkStrategy(WatermarkStrategy<?> strategy) {
      this.watermarkStrategy = Objects.requireNonNull(strategy, "strategy");
      return this;
    }

    /** This reader's index in [0, parallelism) among the readers of the source. */
    public Builder<T> setReader(int index, int parallelism) {
      if (parallelism < 1 || index < 0 || index >= parallelism) {
        throw new IllegalArgumentException(
            "reader index " + index + " must be in [0, parallelism) with parallelism >= 1, got " + parallelism);
      }
      this.readerIndex = index;
      this.parallelism = parallelism;
      return this;
    }

    public KafkaSource<T> build() {
      if (deserializer == null) {
        throw new IllegalStateException("no deserializer: call setDeserializer");
      }
      FerryEndpoint endpoint = endpoint();
      int subs = (topics != null ? 1 : 0) + (topicPattern != null ? 1 : 0) + (partitions != null ? 1 : 0);
      if (subs != 1) {
        throw new IllegalStateException(
            "exactly one of setTopics, setTopicPattern and setPartitions is required, " + subs + " set");
      }
      SourceSpec.Builder s = SourceSpec.newBuilder().setGroupId(groupId).setBoundedness(boundedness);
      if (bootstrapServers != null) {
        s.setCluster(Cluster.newBuilder().addAllBootstrapServers(bootstrapServers));
      }
      if (topics != null) {
        s.setTopics(TopicList.newBuilder().addAllTopics(topics));
      }
      if (topicPattern != null) {
        s.setTopicPattern(topicPattern);
      }
      if (partitions != null) {
        PartitionSet.Builder ps = PartitionSet.newBuilder();
        partitions.forEach(tp -> ps.addPartitions(tp.toProto()));
        s.setPartitions(ps);
      }
      if (startingOffsets != null) {
        s.setStartingOffsets(startingOffsets.toProto());
      }
      if (stoppingOffsets != null) {
        s.setStoppingOffsets(stoppingOffsets.toProto());
      }
      if (watermarkStrategy != null) {
        s.setWatermarkStrategy(watermarkStrategy.toProto());
      }
      s.putAllProperties(properties);
      return new KafkaSource<>(this, s.build(), endpoint);
    }
  }
}
