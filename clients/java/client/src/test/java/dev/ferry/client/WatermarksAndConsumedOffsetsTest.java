package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.ByteString;
import dev.ferry.v1.SinkRecord;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The facade's watermark strategy and source events (KafkaSource.Builder#setWatermarkStrategy,
 * SourceReader#setEventListener), and consumed offsets inside the sink transaction
 * (SinkWriter#flush(String, Map)), against the real ferry server and broker.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WatermarksAndConsumedOffsetsTest {
  private static ManagedChannel channel;
  private static Admin admin;

  /**
   * Event times of the test records are T0 + a few ms: a fixed second a minute ago, so that they
   * stay within the broker's retention and timestamp bounds.
   */
  private static final long T0 = (System.currentTimeMillis() / 1000) * 1000 - 60_000;

  @BeforeAll
  static void setUp() {
    channel = Ferry.connect(TestEnv.ferryAddr());
    admin = TestEnv.admin(TestEnv.kafkaBootstrap());
  }

  @AfterAll
  static void tearDown() throws InterruptedException {
    if (admin != null) {
      admin.close(Duration.ofSeconds(5));
    }
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  // ---- helpers ----

  private static SinkRecord record(String topic, int partition, long timestamp, String value) {
    return SinkRecord.newBuilder()
        .setTopic(topic)
        .setPartition(partition)
        .setTimestampMs(timestamp)
        .setValue(ByteString.copyFrom(value, StandardCharsets.UTF_8))
        .build();
  }

  private static KafkaSink.Builder<String> sinkBuilder(String topic, DeliveryGuarantee guarantee) {
    return KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(topic)
            .setValueSerializationSchema(new SimpleStringSchema())
            .build())
        .setDeliveryGuarantee(guarantee);
  }

  /** Writes the records with AT_LEAST_ONCE and waits until Kafka acknowledged them. */
  private static void writeAcked(List<SinkRecord> records) {
    try (SinkWriter<String> w = sinkBuilder("unused", DeliveryGuarantee.AT_LEAST_ONCE).build().open()) {
      records.forEach(w::writeRecord);
      w.prepare(1);
      assertEquals(records.size(), w.recordsWritten(), "records acknowledged");
    }
  }

  private static KafkaSource.Builder<String> sourceBuilder(String topic) {
    return KafkaSource.<String>builder()
        .setFerryChannel(channel)
        .setTopics(topic)
        .setValueOnlyDeserializer(new SimpleStringSchema());
  }

  /**
   * What a reader delivered, in order, as short strings: "p{partition}@{offset}:+{ts - T0}" for a
   * record, "wm:+{ts - T0}" for a watermark, "idle", "finished:p{partition}@{stop}".
   */
  private static String show(Object item) {
    if (item instanceof KafkaRecord<?> r) {
      return "p" + r.partition() + "@" + r.offset() + ":+" + (r.timestamp() - T0);
    }
    if (item instanceof SourceEvent.WatermarkEvent w) {
      return "wm:+" + (w.timestamp() - T0);
    }
    if (item instanceof SourceEvent.IdleEvent) {
      return "idle";
    }
    if (item instanceof SourceEvent.SplitFinishedEvent f) {
      return "finished:p" + f.split().partition() + "@" + f.stoppingOffset();
    }
    return item.toString();
  }

  /**
   * Polls {@code reader}, whose event listener appends to {@code stream}, appending its records to
   * {@code stream} too, until {@code done} holds for the stream; fails after TestEnv.TIMEOUT.
   */
  private static void pollUntil(SourceReader<String> reader, List<String> stream,
      Predicate<List<String>> done, String what) {
    long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
    while (!done.test(stream)) {
      if (System.nanoTime() > deadline) {
        fail("no " + what + " within " + TestEnv.TIMEOUT + "; the reader delivered " + stream);
      }
      KafkaRecord<String> r = reader.poll(Duration.ofMillis(100));
      if (r != null) {
        stream.add(show(r));
      }
    }
  }

  private static List<String> watermarks(List<String> stream) {
    return stream.stream().filter(s -> s.startsWith("wm:")).toList();
  }

  // ---- watermarks ----

  /**
   * forBoundedOutOfOrderness(100 ms): a split's watermark is its highest timestamp - 100 - 1, and
   * the reader's is the minimum over its splits, reported once every split has a record.
   */
  @Test
  void boundedOutOfOrdernessIsTheMinimumOverSplits() throws Exception {
    String topic = TestEnv.createTopic(admin, "wm-min", 2);
    writeAcked(List.of(
        record(topic, 0, T0 + 1000, "a"),
        record(topic, 0, T0 + 600, "b"), // out of order: p0's maximum stays T0 + 1000
        record(topic, 1, T0 + 400, "c")));
    List<String> stream = new ArrayList<>();
    try (SourceReader<String> reader = sourceBuilder(topic)
        .setWatermarkStrategy(WatermarkStrategy.<String>forBoundedOutOfOrderness(Duration.ofMillis(100)))
        .build()
        .open()
        .setEventListener(e -> stream.add(show(e)))) {
      assertEquals(Long.MIN_VALUE, reader.currentWatermark(), "watermark before any record");
      pollUntil(reader, stream, s -> s.size() >= 4 && !watermarks(s).isEmpty(),
          "three records and a watermark");
      // min(p0: 1000 - 101, p1: 400 - 101), once both splits had a record, never before.
      assertEquals(List.of("wm:+299"), watermarks(stream), "watermarks: " + stream);
      int wm = stream.indexOf("wm:+299");
      assertTrue(wm > stream.indexOf("p0@0:+1000") && wm > stream.indexOf("p1@0:+400"),
          "the watermark came before a record of each split: " + stream);
      assertEquals(T0 + 299, reader.currentWatermark());

      // p1 moves ahead of p0: now p0 holds the watermark back. Checkpoints buffer what arrives
      // before their barriers; take them until the new watermark arrived (behind its record).
      writeAcked(List.of(record(topic, 1, T0 + 2000, "d")));
      long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
      for (long id = 1; reader.currentWatermark() == T0 + 299; id++) {
        if (System.nanoTime() > deadline) {
          fail("no new watermark within " + TestEnv.TIMEOUT + "; the reader delivered " + stream);
        }
        reader.checkpoint(id);
        Thread.sleep(20);
      }
      assertEquals(T0 + 899, reader.currentWatermark());
      assertEquals(List.of("wm:+299"), watermarks(stream),
          "the listener got an event before the iterator passed it: " + stream);
      pollUntil(reader, stream, s -> watermarks(s).size() >= 2, "second watermark");
      assertEquals(List.of("wm:+299", "wm:+899"), watermarks(stream), "watermarks: " + stream);
      assertTrue(stream.indexOf("p1@1:+2000") >= 0
              && stream.indexOf("p1@1:+2000") < stream.indexOf("wm:+899"),
          "the second watermark came before the record that moved it: " + stream);
      assertEquals(4, stream.stream().filter(s -> s.startsWith("p")).count(), "records: " + stream);
    }
  }

  /**
   * forMonotonousTimestamps().withIdleness(400 ms): a split with no records stops holding the
   * watermark back once idle, and the reader reports idle when all its splits are.
   */
  @Test
  void idleSplitsDoNotHoldTheWatermarkBack() throws Exception {
    String topic = TestEnv.createTopic(admin, "wm-idle", 2);
    List<String> stream = new ArrayList<>();
    try (SourceReader<String> reader = sourceBuilder(topic)
        .setWatermarkStrategy(WatermarkStrategy.<String>forMonotonousTimestamps()
            .withIdleness(Duration.ofMillis(400)))
        .build()
        .open()
        .setEventListener(e -> stream.add(show(e)))) {
      // Both splits are empty: both go idle, so the reader does.
      pollUntil(reader, stream, s -> !s.isEmpty(), "idle event");
      assertEquals(List.of("idle"), stream, "an empty reader with idleness");

      // A record on p0 only. p1 never has one; being idle it does not hold the watermark back
      // (without idleness there would be no watermark at all).
      writeAcked(List.of(record(topic, 0, T0 + 700, "x")));
      pollUntil(reader, stream, s -> s.size() >= 3, "record and watermark");
      assertEquals(List.of("idle", "p0@0:+700", "wm:+699"), stream, "monotonous: timestamp - 1");

      // Nothing more comes: p0 goes idle too, and the reader reports it again.
      pollUntil(reader, stream, s -> s.size() >= 4, "second idle event");
      assertEquals(List.of("idle", "p0@0:+700", "wm:+699", "idle"), stream);
      assertEquals(T0 + 699, reader.currentWatermark());
    }
  }

  /**
   * A bounded reader reports each split's end as an event after the split's last record; without a
   * watermark strategy (noWatermarks) there is no watermark or idle event.
   */
  @Test
  void splitFinishedEventsAndNoWatermarks() throws Exception {
    String topic = TestEnv.createTopic(admin, "wm-none", 2);
    List<SinkRecord> records = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      records.add(record(topic, 0, T0 + i, "p0-" + i));
    }
    for (int i = 0; i < 3; i++) {
      records.add(record(topic, 1, T0 + i, "p1-" + i));
    }
    writeAcked(records);
    List<String> stream = new ArrayList<>();
    try (SourceReader<String> reader = sourceBuilder(topic)
        .setWatermarkStrategy(WatermarkStrategy.noWatermarks())
        .setBounded(OffsetsInitializer.latest())
        .build()
        .open()
        .setEventListener(e -> stream.add(show(e)))) {
      reader.forEach(r -> stream.add(show(r)));
      assertTrue(reader.isEndOfInput());
      assertEquals(Long.MIN_VALUE, reader.currentWatermark());
    }
    List<String> p0 = stream.stream().filter(s -> s.contains("p0")).toList();
    List<String> p1 = stream.stream().filter(s -> s.contains("p1")).toList();
    assertEquals(List.of("p0@0:+0", "p0@1:+1", "p0@2:+2", "p0@3:+3", "p0@4:+4", "finished:p0@5"), p0,
        "partition 0 in stream order: " + stream);
    assertEquals(List.of("p1@0:+0", "p1@1:+1", "p1@2:+2", "finished:p1@3"), p1,
        "partition 1 in stream order: " + stream);
    assertEquals(p0.size() + p1.size(), stream.size(), "nothing else (no watermark): " + stream);
  }

  @Test
  void watermarkStrategyMisuse() {
    assertThrows(IllegalArgumentException.class,
        () -> WatermarkStrategy.forBoundedOutOfOrderness(Duration.ofMillis(-1)));
    assertThrows(IllegalArgumentException.class,
        () -> WatermarkStrategy.forMonotonousTimestamps().withIdleness(Duration.ZERO));
    assertEquals(dev.ferry.v1.WatermarkStrategy.newBuilder()
            .setKind(dev.ferry.v1.WatermarkKind.WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS)
            .setMaxOutOfOrdernessMs(5000)
            .setIdleTimeoutMs(60000)
            .build(),
        sourceBuilder("t")
            .setWatermarkStrategy(WatermarkStrategy.forBoundedOutOfOrderness(Duration.ofSeconds(5))
                .withIdleness(Duration.ofMinutes(1)))
            .build().getSpec().getWatermarkStrategy(),
        "the spec sent to the server");
    // Idleness without watermarks is refused by the server at open.
    FerryException e = assertThrows(FerryException.class, () -> sourceBuilder("t")
        .setWatermarkStrategy(WatermarkStrategy.noWatermarks().withIdleness(Duration.ofSeconds(1)))
        .build().open().close());
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getCode(), e.getMessage());
    assertTrue(e.getFerryMessage().contains("watermark_strategy"), e.getFerryMessage());
  }

  // ---- consumed offsets inside the sink transaction ----

  private static Map<Integer, Long> groupOffsets(String group) throws Exception {
    Map<org.apache.kafka.common.TopicPartition, OffsetAndMetadata> m =
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
            .get(TestEnv.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    return m.entrySet().stream().filter(e -> e.getValue() != null).collect(Collectors.toMap(
        e -> e.getKey().partition(), e -> e.getValue().offset(), (a, b) -> a, TreeMap::new));
  }

  /** Kafka writes the transaction markers just after the commit: wait until the offsets show. */
  private static Map<Integer, Long> awaitGroupOffsets(String group, Predicate<Map<Integer, Long>> done)
      throws Exception {
    long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
    Map<Integer, Long> got;
    while (!done.test(got = groupOffsets(group)) && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    return got;
  }

  /** Copies input records p{partition}@[from, to) as "out-" + value into the writer. */
  private static void copy(SinkWriter<String> w, Map<Integer, List<String>> input, int partition,
      int from, int to) {
    for (int o = from; o < to; o++) {
      w.write("out-" + input.get(partition).get(o));
    }
  }

  /**
   * flush(group, offsets) commits the offsets with the transaction's records: a committed
   * transaction moves the group's offsets, an aborted one does not, and a source from the group's
   * committed offsets resumes exactly after the last committed transaction.
   */
  @Test
  void consumedOffsetsCommitWithTheTransaction() throws Exception {
    String in = TestEnv.createTopic(admin, "rpw-in", 2);
    String out = TestEnv.createTopic(admin, "rpw-out", 2);
    String group = "ferry-java-rpw-" + UUID.randomUUID();
    Map<Integer, List<String>> input = new TreeMap<>();
    List<SinkRecord> records = new ArrayList<>();
    for (int p = 0; p < 2; p++) {
      input.put(p, new ArrayList<>());
      for (int o = 0; o < 20; o++) {
        String v = "in-p" + p + "-" + o;
        input.get(p).add(v);
        records.add(record(in, p, T0 + o, v));
      }
    }
    writeAcked(records);
    KafkaSink<String> sink = sinkBuilder(out, DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix("ferry-java-rpw-" + UUID.randomUUID())
        .build();
    TopicPartition p0 = new TopicPartition(in, 0);
    TopicPartition p1 = new TopicPartition(in, 1);
    List<String> committedOutput = new ArrayList<>();

    try (SinkWriter<String> w = sink.open()) {
      // Transaction 1, committed: p0 [0, 5), p1 [0, 8).
      copy(w, input, 0, 0, 5);
      copy(w, input, 1, 0, 8);
      w.flush(group, Map.of(p0, 5L, p1, 8L));
      assertEquals(1, w.prepare(1).getTransactionsCount(), "prepared transactions");
      w.commit(1);
      input.get(0).subList(0, 5).forEach(v -> committedOutput.add("out-" + v));
      input.get(1).subList(0, 8).forEach(v -> committedOutput.add("out-" + v));
      // Transaction 2, never committed: close aborts it with its offsets.
      copy(w, input, 0, 5, 12);
      copy(w, input, 1, 8, 15);
      w.flush(group, Map.of(p0, 12L, p1, 15L));
    }
    assertEquals(Map.of(0, 5L, 1, 8L), awaitGroupOffsets(group, m -> m.size() == 2),
        "group offsets after transaction 1");

    try (SinkWriter<String> w = sink.open()) {
      // Transaction 3, committed, offsets of p0 only and sent in two steps (the last one counts);
      // the records were flushed before the offsets.
      copy(w, input, 0, 5, 10);
      w.flush();
      w.flush(group, Map.of(p0, 7L));
      w.flush(group, Map.of(p0, 10L));
      w.prepare(2);
      w.commit(2);
      input.get(0).subList(5, 10).forEach(v -> committedOutput.add("out-" + v));
    }
    // p1 keeps transaction 1's offset: transaction 2's would show by now, its markers coming first.
    assertEquals(Map.of(0, 10L, 1, 8L), awaitGroupOffsets(group, m -> m.getOrDefault(0, 0L) == 10L),
        "group offsets after transaction 3");

    // A source from the group's committed offsets reads exactly what no committed transaction
    // consumed.
    List<String> rest = new ArrayList<>();
    try (SourceReader<String> reader = sourceBuilder(in)
        .setGroupId(group)
        .setStartingOffsets(OffsetsInitializer.committedOffsets())
        .setBounded(OffsetsInitializer.latest())
        .build()
        .open()) {
      reader.forEach(r -> rest.add(r.value()));
    }
    List<String> expectedRest = new ArrayList<>(input.get(0).subList(10, 20));
    expectedRest.addAll(input.get(1).subList(8, 20));
    assertEquals(expectedRest.stream().sorted().toList(), rest.stream().sorted().toList(),
        "records after the committed offsets");

    // The output of the committed transactions, and nothing of the aborted one.
    List<String> output = new ArrayList<>();
    try (SourceReader<String> reader = sourceBuilder(out)
        .setProperty("isolation.level", "read_committed")
        .setBounded(OffsetsInitializer.latest())
        .build()
        .open()) {
      reader.forEach(r -> output.add(r.value()));
    }
    assertEquals(committedOutput.stream().sorted().toList(), output.stream().sorted().toList(),
        "read_committed output");
  }

  /** Consumed offsets need EXACTLY_ONCE: the server fails the session with INVALID_ARGUMENT. */
  @Test
  void consumedOffsetsNeedExactlyOnce() throws Exception {
    String in = TestEnv.createTopic(admin, "rpw-alo", 1);
    FerryException e = assertThrows(FerryException.class, () -> {
      try (SinkWriter<String> w = sinkBuilder(in, DeliveryGuarantee.AT_LEAST_ONCE).build().open()) {
        w.write("x");
        w.flush("ferry-java-rpw-alo", Map.of(new TopicPartition(in, 0), 1L));
        w.prepare(1);
      }
    });
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getCode(), e.getMessage());
    assertTrue(e.getFerryMessage().contains("consumed_offsets")
        && e.getFerryMessage().contains("EXACTLY_ONCE"), e.getFerryMessage());
    assertThrows(NullPointerException.class, () -> {
      try (SinkWriter<String> w = sinkBuilder(in, DeliveryGuarantee.EXACTLY_ONCE)
          .setTransactionalIdPrefix("ferry-java-rpw-npe-" + UUID.randomUUID()).build().open()) {
        w.flush(null, Map.of());
      }
    });
  }
}
