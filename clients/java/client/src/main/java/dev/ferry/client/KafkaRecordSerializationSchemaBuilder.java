package dev.ferry.client;

import com.google.protobuf.ByteString;
import dev.ferry.v1.SinkRecord;
import java.util.Map;
import java.util.Objects;

/**
 * Flink's KafkaRecordSerializationSchemaBuilder, made by {@link KafkaRecordSerializationSchema#builder()}.
 * It needs a topic ({@link #setTopic} or {@link #setTopicSelector}) and one value serializer (a
 * {@link SerializationSchema}, or Kafka's own {@code Serializer} class); a key serializer, a
 * partitioner and a header provider are optional. Each may be set once, with Flink's messages when
 * not ({@link IllegalStateException}). The setters that take a serializer, selector, partitioner or
 * provider return the builder re-typed to their element type ({@code <T extends IN>}), as Flink's
 * do, so that {@code KafkaRecordSerializationSchema.builder().setTopic(t)
 * .setValueSerializationSchema(new SimpleStringSchema()).build()} is a schema of Strings.
 *
 * <p>Kafka's serializers ({@code setKafkaKeySerializer}, {@code setKafkaValueSerializer}) need
 * kafka-clients on the classpath (an optional dependency of ferry-client); each is made with its
 * no-argument constructor when it is set, configured as Flink does, and called with the record's
 * topic.
 *
 * @param <IN> the element type
 */
public final class KafkaRecordSerializationSchemaBuilder<IN> {
  /** Whether kafka-clients is there, asked without loading {@link KafkaInterop}. */
  private static final boolean KAFKA = kafkaPresent();

  /** A key or value serializer that may look at the record's topic, as Kafka's do. */
  @FunctionalInterface
  interface TopicSerializer<T> {
    byte[] serialize(String topic, T element);
  }

  private String topic;
  private TopicSelector<? super IN> topicSelector;
  private TopicSerializer<? super IN> valueSerializer;
  private TopicSerializer<? super IN> keySerializer;
  private KafkaPartitioner<? super IN> partitioner;
  private HeaderProvider<? super IN> headerProvider;

  KafkaRecordSerializationSchemaBuilder() {}

  @SuppressWarnings("unchecked")
  private <T extends IN> KafkaRecordSerializationSchemaBuilder<T> self() {
    return (KafkaRecordSerializationSchemaBuilder<T>) this;
  }

  /**
   * The topic of every record.
   *
   * @param topic the topic
   * @return this builder
   * @throws IllegalStateException when a topic or selector is set already
   */
  public KafkaRecordSerializationSchemaBuilder<IN> setTopic(String topic) {
    checkTopicNotSet();
    this.topic = Objects.requireNonNull(topic, "topic");
    return this;
  }

  /**
   * Picks the topic of each element, instead of {@link #setTopic}.
   *
   * @param <T> the element type from now on
   * @param topicSelector the selector
   * @return this builder
   * @throws IllegalStateException when a topic or selector is set already
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setTopicSelector(
      TopicSelector<? super T> topicSelector) {
    checkTopicNotSet();
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.topicSelector = Objects.requireNonNull(topicSelector, "topicSelector");
    return self;
  }

  /**
   * Serializes each element into the record's key.
   *
   * @param <T> the element type from now on
   * @param keySerializationSchema the schema
   * @return this builder
   * @throws IllegalStateException when a key serializer is set already
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setKeySerializationSchema(
      SerializationSchema<? super T> keySerializationSchema) {
    checkKeySerializerNotSet();
    Objects.requireNonNull(keySerializationSchema, "keySerializationSchema");
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.keySerializer = (t, e) -> keySerializationSchema.serialize(e);
    return self;
  }

  /**
   * Serializes each element into the record's key with Kafka's {@code Serializer} of this class
   * (kafka-clients needed).
   *
   * @param <T> the element type from now on
   * @param keySerializer a class of {@code org.apache.kafka.common.serialization.Serializer} with a
   *     public no-argument constructor
   * @return this builder
   * @throws IllegalStateException when a key serializer is set already
   * @throws IllegalArgumentException when the serializer cannot be made
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setKafkaKeySerializer(
      Class<? extends org.apache.kafka.common.serialization.Serializer<? super T>> keySerializer) {
    return setKafkaKeySerializer(keySerializer, Map.of());
  }

  /**
   * As {@link #setKafkaKeySerializer(Class)}, configured with {@code configuration}.
   *
   * @param <T> the element type from now on
   * @param <S> the serializer class
   * @param keySerializer the serializer class
   * @param configuration passed to {@code configure}
   * @return this builder
   */
  public <T extends IN, S extends org.apache.kafka.common.serialization.Serializer<? super T>>
      KafkaRecordSerializationSchemaBuilder<T> setKafkaKeySerializer(
          Class<S> keySerializer, Map<String, String> configuration) {
    checkKeySerializerNotSet();
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.keySerializer = KafkaInterop.serializer(keySerializer, Map.copyOf(configuration), true);
    return self;
  }

  /**
   * Serializes each element into the record's value.
   *
   * @param <T> the element type from now on
   * @param valueSerializationSchema the schema
   * @return this builder
   * @throws IllegalStateException when a value serializer is set already
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setValueSerializationSchema(
      SerializationSchema<T> valueSerializationSchema) {
    checkValueSerializerNotSet();
    Objects.requireNonNull(valueSerializationSchema, "valueSerializationSchema");
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.valueSerializer = (t, e) -> valueSerializationSchema.serialize(e);
    return self;
  }

  /**
   * Serializes each element into the record's value with Kafka's {@code Serializer} of this class
   * (kafka-clients needed).
   *
   * @param <T> the element type from now on
   * @param valueSerializer a class of {@code org.apache.kafka.common.serialization.Serializer} with
   *     a public no-argument constructor
   * @return this builder
   * @throws IllegalStateException when a value serializer is set already
   * @throws IllegalArgumentException when the serializer cannot be made
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setKafkaValueSerializer(
      Class<? extends org.apache.kafka.common.serialization.Serializer<? super T>> valueSerializer) {
    return setKafkaValueSerializer(valueSerializer, Map.of());
  }

  /**
   * As {@link #setKafkaValueSerializer(Class)}, configured with {@code configuration}.
   *
   * @param <T> the element type from now on
   * @param <S> the serializer class
   * @param valueSerializer the serializer class
   * @param configuration passed to {@code configure}
   * @return this builder
   */
  public <T extends IN, S extends org.apache.kafka.common.serialization.Serializer<? super T>>
      KafkaRecordSerializationSchemaBuilder<T> setKafkaValueSerializer(
          Class<S> valueSerializer, Map<String, String> configuration) {
    checkValueSerializerNotSet();
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.valueSerializer = KafkaInterop.serializer(valueSerializer, Map.copyOf(configuration), false);
    return self;
  }

  /**
   * The partitioner of the records: {@link FlinkFixedPartitioner}, which the server applies (the
   * sink's partitioner {@code "fixed"}: writer index modulo the partitions). ferry places records
   * in the server, so a partitioner of your own, which would need the partitions in the client, is
   * refused; give a record its partition in a {@link KafkaRecordSerializationSchema} of your own
   * instead, or pick {@code "round_robin"} or {@code "default"} with
   * {@link KafkaSink.Builder#setPartitioner(String)}.
   *
   * @param <T> the element type from now on
   * @param partitioner a {@link FlinkFixedPartitioner}
   * @return this builder
   * @throws IllegalArgumentException for any other partitioner
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setPartitioner(
      KafkaPartitioner<? super T> partitioner) {
    Objects.requireNonNull(partitioner, "partitioner");
    if (partitioner.getClass() != FlinkFixedPartitioner.class) {
      throw new IllegalArgumentException("ferry places records in the server: of Flink's partitioners it takes"
          + " FlinkFixedPartitioner, not " + partitioner.getClass().getName()
          + " (KafkaSink.Builder.setPartitioner(\"round_robin\" or \"default\") picks the others)");
    }
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.partitioner = partitioner;
    return self;
  }

  /**
   * The headers of each element's record.
   *
   * @param <T> the element type from now on
   * @param headerProvider the provider
   * @return this builder
   */
  public <T extends IN> KafkaRecordSerializationSchemaBuilder<T> setHeaderProvider(
      HeaderProvider<? super T> headerProvider) {
    KafkaRecordSerializationSchemaBuilder<T> self = self();
    self.headerProvider = Objects.requireNonNull(headerProvider, "headerProvider");
    return self;
  }

  /**
   * The schema.
   *
   * @return the schema
   * @throws IllegalStateException without a value serializer or a topic (Flink's messages)
   */
  public KafkaRecordSerializationSchema<IN> build() {
    if (valueSerializer == null) {
      throw new IllegalStateException("No value serializer is configured.");
    }
    if (topic == null && topicSelector == null) {
      throw new IllegalStateException("No topic selector is configured.");
    }
    return new Built<>(topic, topicSelector, valueSerializer, keySerializer, partitioner, headerProvider);
  }

  private void checkTopicNotSet() {
    if (topic != null || topicSelector != null) {
      throw new IllegalStateException("Topic selector already set.");
    }
  }

  private void checkValueSerializerNotSet() {
    if (valueSerializer != null) {
      throw new IllegalStateException("Value serializer already set.");
    }
  }

  private void checkKeySerializerNotSet() {
    if (keySerializer != null) {
      throw new IllegalStateException("Key serializer already set.");
    }
  }

  private static boolean kafkaPresent() {
    try {
      Class.forName("org.apache.kafka.common.header.Header", false,
          KafkaRecordSerializationSchemaBuilder.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /** A header of a {@link HeaderProvider}'s: ferry's, or Kafka's when kafka-clients is there. */
  static dev.ferry.v1.Header header(Object h) {
    if (h instanceof Header f) {
      return f.toProto();
    }
    Header k = KAFKA ? KafkaInterop.header(h) : null;
    if (k == null) {
      throw new IllegalArgumentException("a HeaderProvider gave " + (h == null ? "null" : h.getClass().getName())
          + ", not a dev.ferry.client.Header or an org.apache.kafka.common.header.Header");
    }
    return k.toProto();
  }

  /** What {@link #build()} makes. */
  static final class Built<IN> implements KafkaRecordSerializationSchema<IN> {
    private final String topic;
    private final TopicSelector<? super IN> topicSelector;
    private final TopicSerializer<? super IN> valueSerializer;
    private final TopicSerializer<? super IN> keySerializer;
    private final KafkaPartitioner<? super IN> partitioner;
    private final HeaderProvider<? super IN> headerProvider;

    Built(String topic, TopicSelector<? super IN> topicSelector, TopicSerializer<? super IN> valueSerializer,
        TopicSerializer<? super IN> keySerializer, KafkaPartitioner<? super IN> partitioner,
        HeaderProvider<? super IN> headerProvider) {
      this.topic = topic;
      this.topicSelector = topicSelector;
      this.valueSerializer = valueSerializer;
      this.keySerializer = keySerializer;
      this.partitioner = partitioner;
      this.headerProvider = headerProvider;
    }

    /** Whether records are placed by {@link FlinkFixedPartitioner} (in the server). */
    boolean fixedPartitioner() {
      return partitioner != null;
    }

    @Override
    public SinkRecord serialize(IN element) {
      String t = topicSelector != null ? topicSelector.apply(element) : topic;
      if (t == null) {
        throw new IllegalArgumentException("the topic selector gave null for " + element);
      }
      SinkRecord.Builder b = SinkRecord.newBuilder().setTopic(t);
      byte[] value = valueSerializer.serialize(t, element);
      if (value != null) {
        b.setValue(ByteString.copyFrom(value));
      }
      if (keySerializer != null) {
        byte[] key = keySerializer.serialize(t, element);
        if (key != null) {
          b.setKey(ByteString.copyFrom(key));
        }
      }
      if (headerProvider != null) {
        Iterable<?> headers = headerProvider.getHeaders(element);
        if (headers != null) {
          for (Object h : headers) {
            b.addHeaders(header(h));
          }
        }
      }
      return b.build();
    }
  }
}
