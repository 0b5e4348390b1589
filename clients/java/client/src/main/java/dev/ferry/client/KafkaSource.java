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
import java.util.regex.Pattern;

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
    this(spec, b.deserializer, b.readerIndex, b.parallelism, endpoint, b.jobCheckpoints());
  }

  private KafkaSource(SourceSpec spec, KafkaRecordDeserializationSchema<T> deserializer, int readerIndex,
      int parallelism, FerryEndpoint endpoint, JobCheckpoints job) {
    this.spec = spec;
    this.deserializer = deserializer;
    this.readerIndex = readerIndex;
    this.parallelism = parallelism;
    this.endpoint = endpoint;
    this.job = job;
  }

  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /** The spec sent to the server. */
  public SourceSpec getSpec() {
    return spec;
  }

  /**
   * This source with another watermark strategy: what Flink's {@code env.fromSource(source,
   * strategy, name)} gives a source, for code that builds the source first and picks the strategy
   * where it reads it. The same as {@link Builder#setWatermarkStrategy} on the builder.
   *
   * @param strategy the strategy
   * @return a source like this one whose readers have {@code strategy}'s watermarks
   */
  public KafkaSource<T> withWatermarkStrategy(WatermarkStrategy<?> strategy) {
    Objects.requireNonNull(strategy, "strategy");
    SourceSpec s = spec.toBuilder().setWatermarkStrategy(strategy.toProto()).build();
    return new KafkaSource<>(s, deserializer, readerIndex, parallelism, endpoint, job);
  }

  /**
   * Opens a reader that starts from the starting offsets, or in a job ({@link Builder#setJob})
   * restores the newest completed checkpoint ferry keeps. Blocks until the server opened it.
   */
  public SourceReader<T> open() {
    return open((SourceState) null);
  }

  /**
   * Opens a reader that restores a state saved as bytes ({@code state.toByteArray()} of
   * {@link SourceReader#checkpoint}, or the union of all readers' states); null or empty starts from
   * the starting offsets.
   *
   * @param restore the serialized {@link SourceState}
   * @return the reader
   * @throws IllegalArgumentException for bytes that are not a SourceState, and as {@link #open(SourceState)}
   */
  public SourceReader<T> open(byte[] restore) {
    return open(restore == null || restore.length == 0 ? null : FerryEndpoint.parseState(restore, SourceState.parser(), "SourceState"));
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

    /**
     * Subscribes to these topics.
     *
     * @throws IllegalStateException when a subscription is set already (Flink's message)
     */
    public Builder<T> setTopics(List<String> topics) {
      ensureSubscriberIsNull("topics");
      this.topics = List.copyOf(topics);
      return this;
    }

    /**
     * Subscribes to the topics whose whole names match, now and (with partition discovery) later.
     * The server matches with Go's RE2: Java's syntax without lookaround and backreferences.
     *
     * @throws IllegalStateException when a subscription is set already (Flink's message)
     */
    public Builder<T> setTopicPattern(String topicPattern) {
      ensureSubscriberIsNull("topic pattern");
      this.topicPattern = Objects.requireNonNull(topicPattern, "topicPattern");
      return this;
    }

    /**
     * Flink's {@code setTopicPattern(Pattern)}: the pattern's text, matched by the server as
     * {@link #setTopicPattern(String)} says. The flags CASE_INSENSITIVE, MULTILINE, DOTALL and
     * COMMENTS become RE2's inline {@code (?i)}, {@code (?m)}, {@code (?s)}; others are refused.
     *
     * @throws IllegalArgumentException for flags RE2 does not have
     * @throws IllegalStateException when a subscription is set already (Flink's message)
     */
    public Builder<T> setTopicPattern(Pattern topicPattern) {
      Objects.requireNonNull(topicPattern, "topicPattern");
      int flags = topicPattern.flags();
      StringBuilder inline = new StringBuilder();
      if ((flags & Pattern.CASE_INSENSITIVE) != 0) {
        inline.append('i');
      }
      if ((flags & Pattern.MULTILINE) != 0) {
        inline.append('m');
      }
      if ((flags & Pattern.DOTALL) != 0) {
        inline.append('s');
      }
      int other = flags & ~(Pattern.CASE_INSENSITIVE | Pattern.MULTILINE | Pattern.DOTALL | Pattern.UNICODE_CASE);
      if (other != 0) {
        throw new IllegalArgumentException("the server matches topic patterns with RE2, which has no"
            + " equivalent of java.util.regex flags 0x" + Integer.toHexString(other));
      }
      return setTopicPattern(inline.length() == 0 ? topicPattern.pattern()
          : "(?" + inline + ")" + topicPattern.pattern());
    }

    /**
     * Subscribes to these partitions.
     *
     * @throws IllegalStateException when a subscription is set already (Flink's message)
     */
    public Builder<T> setPartitions(Set<TopicPartition> partitions) {
      ensureSubscriberIsNull("partitions");
      this.partitions = Set.copyOf(partitions);
      return this;
    }

    private void ensureSubscriberIsNull(String attemptingSubscribeMode) {
      String subscriber = topics != null ? "TopicListSubscriber"
          : topicPattern != null ? "TopicPatternSubscriber"
          : partitions != null ? "PartitionSetSubscriber" : null;
      if (subscriber != null) {
        throw new IllegalStateException(String.format(
            "Cannot use %s for consumption because a %s is already set for consumption.",
            attemptingSubscribeMode, subscriber));
      }
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

    /**
     * The source, after Flink's checks of {@code KafkaSourceBuilder.build()}, with its messages: a
     * subscription and a deserializer are required (NullPointerException), and a group id
     * ({@link #setGroupId} or the property group.id) when offsets are committed by an explicit
     * {@code enable.auto.commit=true} or {@code commit.offsets.on.checkpoint=true}, or read with
     * {@link OffsetsInitializer#committedOffsets} (IllegalStateException). Bootstrap servers are not
     * required: without them the server's default cluster is read. The server checks the rest when
     * a reader opens.
     *
     * @return the source
     * @throws NullPointerException without a subscription or a deserializer
     * @throws IllegalStateException without a group id where one is needed
     */
    public KafkaSource<T> build() {
      if (topics == null && topicPattern == null && partitions == null) {
        throw new NullPointerException(
            "No subscribe mode is specified, should be one of topics, topic pattern and partition set.");
      }
      if (deserializer == null) {
        throw new NullPointerException("Deserialization schema is required but not provided.");
      }
      boolean hasGroup = !groupId.isEmpty() || properties.containsKey("group.id");
      if (!hasGroup && (Boolean.parseBoolean(properties.get("enable.auto.commit"))
          || Boolean.parseBoolean(properties.get("commit.offsets.on.checkpoint")))) {
        throw new IllegalStateException("Property group.id is required when offset commit is enabled");
      }
      if (!hasGroup && (isCommitted(startingOffsets) || isCommitted(stoppingOffsets))) {
        throw new IllegalStateException(
            "Property group.id is required when using committed offset for offsets initializer");
      }
      FerryEndpoint endpoint = endpoint();
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

    private static boolean isCommitted(OffsetsInitializer init) {
      return init != null && init.toProto().hasCommitted();
    }
  }
}
