package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.ferry.v1.Partitioner;
import dev.ferry.v1.Record;
import dev.ferry.v1.SinkRecord;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The builders as Flink's: their checks and messages in {@code build()} and the setters, their
 * types (Flink code compiles unchanged), Kafka's own serializers and headers, and the default
 * server. No server is needed: nothing here opens a session.
 */
class FlinkBuildersTest {
  private static <T extends Throwable> String message(Class<T> type, org.junit.jupiter.api.function.Executable e) {
    return assertThrows(type, e).getMessage();
  }

  @Test
  void sourceChecksAreFlinks() {
    assertEquals("No subscribe mode is specified, should be one of topics, topic pattern and partition set.",
        message(NullPointerException.class, () -> KafkaSource.<String>builder()
            .setValueOnlyDeserializer(new SimpleStringSchema()).build()));
    assertEquals("Deserialization schema is required but not provided.",
        message(NullPointerException.class, () -> KafkaSource.<String>builder().setTopics("t").build()));
    assertEquals("Cannot use topic pattern for consumption because a TopicListSubscriber is already set for consumption.",
        message(IllegalStateException.class, () -> KafkaSource.builder().setTopics("a").setTopicPattern("b")));
    assertEquals("Cannot use partitions for consumption because a TopicPatternSubscriber is already set for consumption.",
        message(IllegalStateException.class, () -> KafkaSource.builder().setTopicPattern("a")
            .setPartitions(Set.of(new TopicPartition("a", 0)))));
    assertEquals("Cannot use topics for consumption because a PartitionSetSubscriber is already set for consumption.",
        message(IllegalStateException.class, () -> KafkaSource.builder()
            .setPartitions(Set.of(new TopicPartition("a", 0))).setTopics("a")));
    assertEquals("Property group.id is required when using committed offset for offsets initializer",
        message(IllegalStateException.class, () -> KafkaSource.<String>builder().setTopics("t")
            .setValueOnlyDeserializer(new SimpleStringSchema())
            .setStartingOffsets(OffsetsInitializer.committedOffsets()).build()));
    assertEquals("Property group.id is required when using committed offset for offsets initializer",
        message(IllegalStateException.class, () -> KafkaSource.<String>builder().setTopics("t")
            .setValueOnlyDeserializer(new SimpleStringSchema())
            .setBounded(OffsetsInitializer.committedOffsets()).build()));
    assertEquals("Property group.id is required when offset commit is enabled",
        message(IllegalStateException.class, () -> KafkaSource.<String>builder().setTopics("t")
            .setValueOnlyDeserializer(new SimpleStringSchema())
            .setProperty("commit.offsets.on.checkpoint", "true").build()));
    // a group id by property will do, as in Flink
    KafkaSource.<String>builder().setTopics("t").setValueOnlyDeserializer(new SimpleStringSchema())
        .setProperty("group.id", "g").setProperty("enable.auto.commit", "true")
        .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST)).build();
  }

  @Test
  void topicPatternOfJava() {
    assertEquals("topic.*", KafkaSource.<String>builder().setTopicPattern(Pattern.compile("topic.*"))
        .setValueOnlyDeserializer(new SimpleStringSchema()).build().getSpec().getTopicPattern());
    assertEquals("(?is)orders-.*", KafkaSource.<String>builder()
        .setTopicPattern(Pattern.compile("orders-.*", Pattern.CASE_INSENSITIVE | Pattern.DOTALL))
        .setValueOnlyDeserializer(new SimpleStringSchema()).build().getSpec().getTopicPattern());
    assertThrows(IllegalArgumentException.class,
        () -> KafkaSource.builder().setTopicPattern(Pattern.compile("a", Pattern.LITERAL)));
  }

  @Test
  void sinkChecksAreFlinks() {
    KafkaRecordSerializationSchema<String> schema = KafkaRecordSerializationSchema.builder()
        .setTopic("t").setValueSerializationSchema(new SimpleStringSchema()).build();
    assertEquals("EXACTLY_ONCE delivery guarantee requires a transactionIdPrefix to be set to provide unique"
        + " transaction names across multiple KafkaSinks writing to the same Kafka cluster.",
        message(IllegalStateException.class, () -> KafkaSink.<String>builder().setRecordSerializer(schema)
            .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).build()));
    assertEquals("recordSerializer", message(NullPointerException.class, () -> KafkaSink.<String>builder().build()));
    assertEquals("The configured prefix is too long and the resulting transactionalId might exceed Kafka's"
        + " transactionalIds size.",
        message(IllegalStateException.class, () -> KafkaSink.builder().setTransactionalIdPrefix("p".repeat(64001))));
    KafkaSink<String> sink = KafkaSink.<String>builder().setRecordSerializer(schema)
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).setTransactionalIdPrefix("app")
        .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING).build();
    assertEquals("app", sink.getSpec().getTransactionalIdPrefix());
    assertThrows(IllegalArgumentException.class,
        () -> KafkaSink.builder().setTransactionNamingStrategy(TransactionNamingStrategy.INCREMENTING));
  }

  @Test
  void serializationBuilderIsFlinks() {
    // Flink's chain: the builder takes the type of the serializers it is given.
    KafkaRecordSerializationSchema<String> plain = KafkaRecordSerializationSchema.builder()
        .setTopic("topic-name").setValueSerializationSchema(new SimpleStringSchema()).build();
    SinkRecord r = plain.serialize("v");
    assertEquals("topic-name", r.getTopic());
    assertEquals("v", r.getValue().toStringUtf8());
    assertTrue(!r.hasKey());

    assertEquals("No value serializer is configured.", message(IllegalStateException.class,
        () -> KafkaRecordSerializationSchema.builder().setTopic("t").build()));
    assertEquals("No topic selector is configured.", message(IllegalStateException.class,
        () -> KafkaRecordSerializationSchema.builder().setValueSerializationSchema(new SimpleStringSchema()).build()));
    assertEquals("Topic selector already set.", message(IllegalStateException.class,
        () -> KafkaRecordSerializationSchema.builder().setTopic("a").setTopicSelector(e -> "b")));
    assertEquals("Value serializer already set.", message(IllegalStateException.class,
        () -> KafkaRecordSerializationSchema.builder().setValueSerializationSchema(new SimpleStringSchema())
            .setKafkaValueSerializer(StringSerializer.class)));
    assertEquals("Key serializer already set.", message(IllegalStateException.class,
        () -> KafkaRecordSerializationSchema.builder().setKafkaKeySerializer(StringSerializer.class)
            .setKeySerializationSchema(new SimpleStringSchema())));

    // Kafka's serializers, with the record's topic; headers from Kafka's RecordHeaders or ferry's.
    KafkaRecordSerializationSchema<String> kafka = KafkaRecordSerializationSchema.builder()
        .setTopicSelector((String e) -> "t-" + (e.length() % 2))
        .setKafkaKeySerializer(StringSerializer.class, Map.of("serializer.encoding", "UTF-16BE"))
        .setKafkaValueSerializer(StringSerializer.class)
        .setHeaderProvider(e -> new RecordHeaders().add("n", new byte[] {(byte) e.length()}).add("null", null))
        .build();
    SinkRecord k = kafka.serialize("é");
    assertEquals("t-1", k.getTopic());
    assertEquals("é", new String(k.getKey().toByteArray(), StandardCharsets.UTF_16BE));
    assertEquals("é", k.getValue().toStringUtf8());
    assertEquals(2, k.getHeadersCount());
    assertEquals("n", k.getHeaders(0).getKey());
    assertEquals(ByteString.copyFrom(new byte[] {1}), k.getHeaders(0).getValue());
    assertTrue(!k.getHeaders(1).hasValue(), "a null header value stays null");
    SinkRecord f = KafkaRecordSerializationSchema.builder().setTopic("t")
        .setValueSerializationSchema(new SimpleStringSchema())
        .setHeaderProvider(e -> List.of(new Header("h", null), new Header("g", e.getBytes(StandardCharsets.UTF_8))))
        .build().serialize("x");
    assertEquals(List.of("h", "g"), f.getHeadersList().stream().map(dev.ferry.v1.Header::getKey).toList());
  }

  @Test
  void partitionersAreFlinks() {
    KafkaRecordSerializationSchema<String> fixed = KafkaRecordSerializationSchema.builder()
        .setTopic("t").setValueSerializationSchema(new SimpleStringSchema())
        .setPartitioner(new FlinkFixedPartitioner<>()).build();
    assertEquals(Partitioner.PARTITIONER_FIXED,
        KafkaSink.<String>builder().setRecordSerializer(fixed).build().getSpec().getPartitioner());
    assertThrows(IllegalStateException.class,
        () -> KafkaSink.<String>builder().setRecordSerializer(fixed).setPartitioner("round_robin").build());
    assertThrows(IllegalArgumentException.class, () -> KafkaRecordSerializationSchema.builder()
        .setPartitioner((r, k, v, t, ps) -> ps[0]));
    FlinkFixedPartitioner<String> p = new FlinkFixedPartitioner<>();
    p.open(5, 6);
    assertEquals(12, p.partition("x", null, null, "t", new int[] {10, 11, 12}));
  }

  @Test
  void kafkaDeserializerAsFlinks() {
    KafkaRecordDeserializationSchema<String> d = KafkaRecordDeserializationSchema.valueOnly(StringDeserializer.class);
    assertEquals("hello", d.deserialize(Record.newBuilder().setTopic("t")
        .setValue(ByteString.copyFromUtf8("hello")).build()));
    assertNull(d.deserialize(Record.newBuilder().setTopic("t").build()), "a tombstone is null");
    KafkaRecordDeserializationSchema<String> utf16 = KafkaRecordDeserializationSchema.valueOnly(
        StringDeserializer.class, Map.of("deserializer.encoding", "UTF-16BE"));
    assertEquals("é", utf16.deserialize(Record.newBuilder()
        .setValue(ByteString.copyFrom("é", StandardCharsets.UTF_16BE)).build()));
    assertThrows(IllegalArgumentException.class, () -> KafkaRecordDeserializationSchema.valueOnly(String.class));
  }

  @Test
  void defaultServerIsFerryAddressOrLoopback() {
    String env = System.getenv(Ferry.ADDRESS_ENV);
    assertEquals(env != null && !env.isBlank() ? env.trim() : "127.0.0.1:50051", Ferry.defaultAddress());
    // a builder without an address or channel builds: its sessions go to the default address
    KafkaSource.<String>builder().setTopics("t").setValueOnlyDeserializer(new SimpleStringSchema()).build();
  }
}
