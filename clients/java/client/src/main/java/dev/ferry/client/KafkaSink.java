package dev.ferry.client;

import dev.ferry.v1.Cluster;
import dev.ferry.v1.JobCheckpoints;
import dev.ferry.v1.OpenSink;
import dev.ferry.v1.SinkSpec;
import dev.ferry.v1.SinkState;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

/**
 * A Kafka sink with the builder of Flink's KafkaSink; the producer runs in the ferry server.
 *
 * <pre>{@code
 * KafkaSink<String> sink = KafkaSink.<String>builder()
 *     .setFerryAddress("127.0.0.1:50051")
 *     .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
 *         .setTopic("output").setValueSerializationSchema(new SimpleStringSchema()).build())
 *     .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
 *     .setTransactionalIdPrefix("my-app")
 *     .build();
 * try (SinkWriter<String> writer = sink.open()) {
 *   writer.write("hello");
 *   SinkState state = writer.prepare(1);   // store it with checkpoint 1
 *   writer.commit(1);                      // once checkpoint 1 is complete
 * }
 * }</pre>
 */
public final class KafkaSink<T> {
  private final SinkSpec spec;
  private final KafkaRecordSerializationSchema<T> serializer;
  private final int writerIndex;
  private final int parallelism;
  private final FerryEndpoint endpoint;
  private final int maxBatchRecords;
  private final JobCheckpoints job;

  private KafkaSink(Builder<T> b, SinkSpec spec, FerryEndpoint endpoint) {
    this.spec = spec;
    this.serializer = b.serializer;
    this.writerIndex = b.writerIndex;
    this.parallelism = b.parallelism;
    this.endpoint = endpoint;
    this.maxBatchRecords = b.maxBatchRecords;
    this.job = b.jobCheckpoints();
  }

  public static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /** The spec sent to the server. */
  public SinkSpec getSpec() {
    return spec;
  }

  /**
   * Opens a writer; in a job ({@link Builder#setJob}) it first commits the prepared transactions of
   * the newest completed checkpoint ferry keeps. Blocks until the server opened it.
   */
  public SinkWriter<T> open() {
    return open((SinkState) null);
  }

  /**
   * Opens a writer that restores a state saved as bytes ({@code state.toByteArray()} of a state
   * {@link SinkWriter#prepare} returned); null or empty restores nothing.
   *
   * @param restore the serialized {@link SinkState}
   * @return the writer
   * @throws IllegalArgumentException for bytes that are not a SinkState, and as {@link #open(SinkState)}
   */
  public SinkWriter<T> open(byte[] restore) {
    return open(restore == null || restore.length == 0 ? null
        : FerryEndpoint.parseState(restore, SinkState.parser(), "SinkState"));
  }

  /**
   * Opens a writer that first commits the prepared transactions of {@code restore} (a state
   * returned by {@link SinkWriter#prepare}) and aborts lingering ones; null restores nothing.
   *
   * @throws IllegalArgumentException for a state with {@link Builder#setJob}, where ferry keeps the
   *     states
   */
  public SinkWriter<T> open(SinkState restore) {
    OpenSink.Builder open = OpenSink.newBuilder()
        .setSpec(spec)
        .setWriterIndex(writerIndex)
        .setParallelism(parallelism);
    if (JobSessions.isJob(job)) {
      JobSessions.refuseRestoreState(restore, "sink");
      open.setJob(job);
    }
    boolean exactlyOnce = DeliveryGuarantee.EXACTLY_ONCE.proto.equals(spec.getDeliveryGuarantee());
    return endpoint.open(restore, open::setRestore,
        (ch, owned) -> new SinkWriter<>(ch, owned, open.build(), serializer, exactlyOnce, maxBatchRecords));
  }

  /** Flink's KafkaSinkBuilder. */
  public static final class Builder<T> extends FerryClientBuilder<Builder<T>> {
    private List<String> bootstrapServers;
    private KafkaRecordSerializationSchema<T> serializer;
    private DeliveryGuarantee guarantee = DeliveryGuarantee.NONE;
    private static final int MAXIMUM_PREFIX_BYTES = 64000;

    private String transactionalIdPrefix;
    private boolean partitionerSet;
    private final Map<String, String> properties = new LinkedHashMap<>();
    private int writerIndex = 0;
    private int parallelism = 1;
    private int maxBatchRecords = 1000;
    private dev.ferry.v1.Partitioner partitioner = dev.ferry.v1.Partitioner.PARTITIONER_DEFAULT;

    private Builder() {}

    /**
     * How records without an explicit partition are placed: "default" (murmur2 of the key, as
     * Kafka's Java client), "fixed" (writer index mod partitions, as FlinkFixedPartitioner) or
     * "round_robin".
     */
    public Builder<T> setPartitioner(String name) {
      partitionerSet = true;
      switch (Objects.requireNonNull(name, "name")) {
        case "default" -> partitioner = dev.ferry.v1.Partitioner.PARTITIONER_DEFAULT;
        case "fixed" -> partitioner = dev.ferry.v1.Partitioner.PARTITIONER_FIXED;
        case "round_robin" -> partitioner = dev.ferry.v1.Partitioner.PARTITIONER_ROUND_ROBIN;
        default -> throw new IllegalArgumentException(
            "partitioner must be default, fixed or round_robin, not " + name);
      }
      return this;
    }

    /** Kafka bootstrap servers, "host:port[,host:port]"; unset uses the server's default cluster. */
    public Builder<T> setBootstrapServers(String bootstrapServers) {
      Objects.requireNonNull(bootstrapServers, "bootstrapServers");
      this.bootstrapServers = Arrays.stream(bootstrapServers.split(","))
          .map(String::trim).filter(s -> !s.isEmpty()).toList();
      return this;
    }

    public Builder<T> setRecordSerializer(KafkaRecordSerializationSchema<T> serializer) {
      this.serializer = Objects.requireNonNull(serializer, "serializer");
      return this;
    }

    public Builder<T> setDeliveryGuarantee(DeliveryGuarantee guarantee) {
      this.guarantee = Objects.requireNonNull(guarantee, "guarantee");
      return this;
    }

    /**
     * Required for EXACTLY_ONCE: transactional ids are "{prefix}-{writer index}-{n}".
     *
     * @throws IllegalStateException for a prefix over 64000 UTF-8 bytes (Flink's limit and message)
     */
    public Builder<T> setTransactionalIdPrefix(String prefix) {
      this.transactionalIdPrefix = Objects.requireNonNull(prefix, "transactionalIdPrefix");
      if (prefix.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAXIMUM_PREFIX_BYTES) {
        throw new IllegalStateException("The configured prefix is too long and the resulting transactionalId"
            + " might exceed Kafka's transactionalIds size.");
      }
      return this;
    }

    /**
     * How EXACTLY_ONCE transactions are named (Flink 4.x): ferry pools its transactional ids, so
     * {@link TransactionNamingStrategy#POOLING} is taken (it changes nothing), and
     * {@link TransactionNamingStrategy#INCREMENTING} is refused.
     *
     * @throws IllegalArgumentException for INCREMENTING
     */
    public Builder<T> setTransactionNamingStrategy(TransactionNamingStrategy strategy) {
      if (Objects.requireNonNull(strategy, "transactionNamingStrategy") != TransactionNamingStrategy.POOLING) {
        throw new IllegalArgumentException("ferry names transactions from a pool of transactional ids per writer"
            + " (POOLING, with lingering transactions found by listing); " + strategy + " is not supported");
      }
      return this;
    }

    /** The prefix of the Kafka client id (property client.id.prefix). */
    public Builder<T> setClientIdPrefix(String prefix) {
      return setProperty("client.id.prefix", prefix);
    }

    /** A Kafka producer property by its Java name. */
    public Builder<T> setProperty(String key, String value) {
      properties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
      return this;
    }

    public Builder<T> setKafkaProducerConfig(Properties props) {
      for (String name : props.stringPropertyNames()) {
        properties.put(name, props.getProperty(name));
      }
      return this;
    }

    /** This writer's index in [0, parallelism) among the writers of the sink. */
    public Builder<T> setWriter(int index, int parallelism) {
      if (parallelism < 1 || index < 0 || index >= parallelism) {
        throw new IllegalArgumentException(
            "writer index " + index + " must be in [0, parallelism) with parallelism >= 1, got " + parallelism);
      }
      this.writerIndex = index;
      this.parallelism = parallelism;
      return this;
    }

    /** Records per batch message on the wire (default 1000; a batch is also cut at 4 MiB). */
    public Builder<T> setMaxBatchRecords(int maxBatchRecords) {
      if (maxBatchRecords < 1) {
        throw new IllegalArgumentException("maxBatchRecords must be >= 1");
      }
      this.maxBatchRecords = maxBatchRecords;
      return this;
    }

    /**
     * The sink, after Flink's checks of {@code KafkaSinkBuilder.build()}, with its messages:
     * EXACTLY_ONCE needs a transactional id prefix (IllegalStateException) and a record serializer
     * is required (NullPointerException). Bootstrap servers are not required: without them the
     * server's default cluster is written to. The server checks the rest when a writer opens.
     *
     * @return the sink
     * @throws IllegalStateException for EXACTLY_ONCE without a prefix, or a
     *     {@link FlinkFixedPartitioner} in the serializer and another {@link #setPartitioner(String)}
     * @throws NullPointerException without a record serializer
     */
    public KafkaSink<T> build() {
      if (guarantee == DeliveryGuarantee.EXACTLY_ONCE && transactionalIdPrefix == null) {
        throw new IllegalStateException("EXACTLY_ONCE delivery guarantee requires a transactionIdPrefix to be set"
            + " to provide unique transaction names across multiple KafkaSinks writing to the same Kafka cluster.");
      }
      if (serializer == null) {
        throw new NullPointerException("recordSerializer");
      }
      dev.ferry.v1.Partitioner place = partitioner;
      if (serializer instanceof KafkaRecordSerializationSchemaBuilder.Built<?> b && b.fixedPartitioner()) {
        if (partitionerSet && partitioner != dev.ferry.v1.Partitioner.PARTITIONER_FIXED) {
          throw new IllegalStateException("the record serializer places records with FlinkFixedPartitioner,"
              + " and setPartitioner picked another partitioner");
        }
        place = dev.ferry.v1.Partitioner.PARTITIONER_FIXED;
      }
      FerryEndpoint endpoint = endpoint();
      SinkSpec.Builder s = SinkSpec.newBuilder()
          .setDeliveryGuarantee(guarantee.proto)
          .setTransactionalIdPrefix(transactionalIdPrefix == null ? "" : transactionalIdPrefix)
          .setPartitioner(place)
          .putAllProperties(properties);
      if (bootstrapServers != null) {
        s.setCluster(Cluster.newBuilder().addAllBootstrapServers(bootstrapServers));
      }
      return new KafkaSink<>(this, s.build(), endpoint);
    }
  }
}
