package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ferry.v1.OffsetsCommitted;
import dev.ferry.v1.SinkState;
import dev.ferry.v1.SourceState;
import dev.ferry.v1.SplitState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The Flink-style facade (KafkaSource, KafkaSink) against the real ferry server and broker. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FlinkApiTest {
  private static ManagedChannel channel;
  private static Admin admin;
  private static String kafka;

  @BeforeAll
  static void setUp() {
    String addr = TestEnv.ferryAddr();
    kafka = TestEnv.kafkaBootstrap();
    channel = Ferry.connect(addr);
    admin = TestEnv.admin(kafka);
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

  private static KafkaSink.Builder<String> sinkBuilder(String topic, DeliveryGuarantee guarantee) {
    return KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(topic)
            .setValueSerializationSchema(new SimpleStringSchema())
            .setKeySerializationSchema(new SimpleStringSchema())
            .build())
        .setDeliveryGuarantee(guarantee);
  }

  private static KafkaSource.Builder<String> sourceBuilder(String topic) {
    return KafkaSource.<String>builder()
        .setFerryChannel(channel)
        .setTopics(topic)
        .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(new SimpleStringSchema()));
  }

  private static List<String> values(String prefix, int from, int to) {
    return IntStream.range(from, to).mapToObj(i -> prefix + "-" + i).toList();
  }

  /** Writes with AT_LEAST_ONCE and waits until Kafka acknowledged all of them. */
  private static void writeAcked(String topic, List<String> values) {
    try (SinkWriter<String> w = sinkBuilder(topic, DeliveryGuarantee.AT_LEAST_ONCE).build().open()) {
      values.forEach(w::write);
      SinkState state = w.prepare(1);
      assertEquals(0, state.getTransactionsCount(), "AT_LEAST_ONCE prepares no transaction");
      assertEquals(values.size(), w.recordsWritten(), "records acknowledged at checkpoint 1");
    }
  }

  private static List<KafkaRecord<String>> readAll(KafkaSource<String> source) {
    List<KafkaRecord<String>> out = new ArrayList<>();
    try (SourceReader<String> reader = source.open()) {
      reader.forEach(out::add);
      assertTrue(reader.isEndOfInput(), "the reader ended without end_of_input");
    }
    return out;
  }

  private static List<String> valuesOf(List<KafkaRecord<String>> records) {
    return records.stream().map(KafkaRecord::value).toList();
  }

  private static Set<String> sorted(List<String> values) {
    return new java.util.TreeSet<>(values);
  }

  private static Map<Integer, Long> countsByPartition(List<KafkaRecord<String>> records) {
    return records.stream().collect(Collectors.groupingBy(
        KafkaRecord::partition, TreeMap::new, Collectors.counting()));
  }

  // ---- tests ----

  @Test
  void boundedReadOfAtLeastOnceSink() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-bounded", 3);
    List<String> written = values("v", 0, 300);
    writeAcked(topic, written);

    KafkaSource<String> source = sourceBuilder(topic)
        .setBootstrapServers(kafka)
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setBounded(OffsetsInitializer.latest())
        .build();
    List<KafkaRecord<String>> read = readAll(source);
    assertEquals(written.size(), read.size(), "records read");
    assertEquals(sorted(written), sorted(valuesOf(read)), "values read");
    Map<Integer, Long> last = new HashMap<>();
    for (KafkaRecord<String> r : read) {
      assertEquals(topic, r.topic());
      assertArrayEquals(r.value().getBytes(StandardCharsets.UTF_8), r.key(), "key of " + r);
      assertTrue(r.timestamp() > 0, "timestamp of " + r);
      Long prev = last.put(r.partition(), r.offset());
      assertEquals(prev == null ? 0L : prev + 1, r.offset(), "offsets of partition " + r.partition());
    }
  }

  @Test
  void startingOffsets() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-start", 2);
    List<String> written = values("s", 0, 100);
    writeAcked(topic, written);

    // earliest
    List<KafkaRecord<String>> all = readAll(sourceBuilder(topic)
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setBounded(OffsetsInitializer.latest()).build());
    assertEquals(sorted(written), sorted(valuesOf(all)), "earliest");
    Map<Integer, Long> counts = countsByPartition(all);

    // latest: nothing left to read up to latest
    assertEquals(List.of(), readAll(sourceBuilder(topic)
        .setStartingOffsets(OffsetsInitializer.latest())
        .setBounded(OffsetsInitializer.latest()).build()), "latest");

    // offsets: partition 0 from 10, partition 1 not listed (earliest)
    List<KafkaRecord<String>> fromTen = readAll(sourceBuilder(topic)
        .setStartingOffsets(OffsetsInitializer.offsets(Map.of(new TopicPartition(topic, 0), 10L)))
        .setBounded(OffsetsInitializer.latest()).build());
    assertEquals(written.size() - 10, fromTen.size(), "offsets(p0 -> 10)");
    assertEquals(10L, fromTen.stream().filter(r -> r.partition() == 0)
        .mapToLong(KafkaRecord::offset).min().orElse(-1), "first offset of partition 0");

    // committedOffsets(EARLIEST) with a group that committed nothing: everything
    String group = "ferry-java-flink-" + UUID.randomUUID();
    assertEquals(sorted(written), sorted(valuesOf(readAll(sourceBuilder(topic)
        .setGroupId(group)
        .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
        .setBounded(OffsetsInitializer.latest()).build()))), "committedOffsets(EARLIEST), no commits");

    // committedOffsets() (NONE) with no commits is FAILED_PRECONDITION naming the partition
    FerryException none = assertThrows(FerryException.class, () -> sourceBuilder(topic)
        .setGroupId(group)
        .setStartingOffsets(OffsetsInitializer.committedOffsets())
        .setBounded(OffsetsInitializer.latest()).build().open().close());
    assertEquals(Status.Code.FAILED_PRECONDITION, none.getCode(), none.getMessage());
    assertTrue(none.getFerryMessage().contains(topic), none.getFerryMessage());

    // commit the whole topic through a checkpoint, then committedOffsets() starts at the end
    try (SourceReader<String> reader = sourceBuilder(topic).setGroupId(group).build().open()) {
      int n = 0;
      long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
      while (n < written.size() && System.nanoTime() < deadline) {
        if (reader.poll(Duration.ofMillis(200)) != null) {
          n++;
        }
      }
      assertEquals(written.size(), n, "records of the committing reader");
      SourceState state = reader.checkpoint(1);
      for (SplitState s : state.getSplitsList()) {
        assertEquals((long) counts.get(s.getPartition()), s.getNextOffset(), "state " + s);
      }
      reader.notifyCheckpointComplete(1);
      OffsetsCommitted committed = reader.awaitOffsetsCommitted(1, TestEnv.TIMEOUT);
      assertEquals("", committed.getError(), "commit of checkpoint 1");
    }
    try (SourceReader<String> reader = sourceBuilder(topic)
        .setGroupId(group)
        .setStartingOffsets(OffsetsInitializer.committedOffsets())
        .setBounded(OffsetsInitializer.latest()).build().open()) {
      for (SplitState s : reader.splits()) {
        assertEquals((long) counts.get(s.getPartition()), s.getNextOffset(), "start " + s);
      }
      assertFalse(reader.hasNext(), "records after the committed offsets");
    }
  }

  @Test
  void timestampStartingOffsets() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-ts", 2);
    List<String> before = values("old", 0, 20);
    List<String> after = values("new", 0, 30);
    writeAcked(topic, before);
    Thread.sleep(30);
    long t = System.currentTimeMillis();
    Thread.sleep(30);
    writeAcked(topic, after);

    List<KafkaRecord<String>> read = readAll(sourceBuilder(topic)
        .setStartingOffsets(OffsetsInitializer.timestamp(t))
        .setBounded(OffsetsInitializer.latest()).build());
    assertEquals(sorted(after), sorted(valuesOf(read)), "records with timestamp >= " + t);
    read.forEach(r -> assertTrue(r.timestamp() >= t, "timestamp of " + r));
  }

  @Test
  void latestThenPoll() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-latest", 2);
    writeAcked(topic, values("early", 0, 10));
    try (SourceReader<String> reader = sourceBuilder(topic)
        .setStartingOffsets(OffsetsInitializer.latest()).build().open()) {
      assertFalse(reader.opened().getBounded());
      assertEquals(null, reader.poll(Duration.ofMillis(300)), "nothing after latest yet");
      List<String> late = values("late", 0, 10);
      writeAcked(topic, late);
      List<String> got = new ArrayList<>();
      long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
      while (got.size() < late.size() && System.nanoTime() < deadline) {
        KafkaRecord<String> r = reader.poll(Duration.ofMillis(200));
        if (r != null) {
          got.add(r.value());
        }
      }
      assertEquals(sorted(late), sorted(got), "records written after opening at latest");
    }
  }

  @Test
  void unboundedStoppedByOffsets() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-unbounded", 2);
    writeAcked(topic, values("u", 0, 60));
    KafkaSource<String> source = sourceBuilder(topic)
        .setUnbounded(OffsetsInitializer.offsets(Map.of(
            new TopicPartition(topic, 0), 5L, new TopicPartition(topic, 1), 7L)))
        .build();
    List<KafkaRecord<String>> read = new ArrayList<>();
    try (SourceReader<String> reader = source.open()) {
      assertFalse(reader.opened().getBounded(), "an unbounded source");
      reader.forEach(read::add);
      assertTrue(reader.isEndOfInput());
    }
    assertEquals(Map.of(0, 5L, 1, 7L), countsByPartition(read), "records per partition");
  }

  @Test
  void fixedPartitionerAndTopicSelector() throws Exception {
    String even = TestEnv.createTopic(admin, "flink-even", 3);
    String odd = TestEnv.createTopic(admin, "flink-odd", 3);
    KafkaSink<String> sink = KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopicSelector(v -> Integer.parseInt(v.substring(2)) % 2 == 0 ? even : odd)
            .setValueSerializationSchema(new SimpleStringSchema())
            .setKeySerializationSchema(new SimpleStringSchema())
            .build())
        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .setPartitioner("fixed")
        .setWriter(5, 6) // FlinkFixedPartitioner: writer 5 of 3 partitions -> partition 2
        .build();
    List<String> written = values("p", 0, 40);
    try (SinkWriter<String> w = sink.open()) {
      written.forEach(w::write);
      w.prepare(1);
    }
    List<KafkaRecord<String>> evens = readAll(sourceBuilder(even).setBounded(OffsetsInitializer.latest()).build());
    List<KafkaRecord<String>> odds = readAll(sourceBuilder(odd).setBounded(OffsetsInitializer.latest()).build());
    assertEquals(20, evens.size(), "records selected into the even topic");
    assertEquals(20, odds.size(), "records selected into the odd topic");
    for (KafkaRecord<String> r : evens) {
      assertEquals(0, Integer.parseInt(r.value().substring(2)) % 2, "odd value in the even topic");
      assertEquals(2, r.partition(), "the fixed partitioner puts writer 5 of 3 partitions in 2");
    }
    for (KafkaRecord<String> r : odds) {
      assertEquals(2, r.partition(), "the fixed partitioner puts writer 5 of 3 partitions in 2");
    }
    assertThrows(IllegalArgumentException.class, () -> KafkaSink.<String>builder().setPartitioner("random"));
  }

  @Test
  void sinkNone() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-none", 2);
    List<String> written = values("n", 0, 50);
    SinkWriter<String> w = sinkBuilder(topic, DeliveryGuarantee.NONE).build().open();
    written.forEach(w::write);
    w.flush();
    w.close();
    assertEquals(written.size(), w.recordsWritten(), "records written at close");
    assertEquals(sorted(written), sorted(valuesOf(readAll(sourceBuilder(topic)
        .setBounded(OffsetsInitializer.latest()).build()))));
  }

  @Test
  void sinkExactlyOnce() throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-eos", 2);
    String prefix = "ferry-java-flink-" + UUID.randomUUID();
    KafkaSink<String> sink = sinkBuilder(topic, DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(prefix).build();
    KafkaSource<String> committedReader = sourceBuilder(topic)
        .setProperty("isolation.level", "read_committed")
        .setBounded(OffsetsInitializer.latest()).build();

    List<String> first = values("tx1", 0, 40);
    List<String> second = values("tx2", 0, 25);
    SinkState pendingState;
    try (SinkWriter<String> w = sink.open()) {
      first.forEach(w::write);
      SinkState s1 = w.prepare(1);
      assertEquals(1, s1.getTransactionsCount(), "prepared transactions of checkpoint 1: " + s1);
      assertTrue(s1.getTransactions(0).getTransactionalId().startsWith(prefix), s1.toString());
      assertEquals(List.of(), readAll(committedReader), "read_committed before the commit");
      w.commit(1);
      second.forEach(w::write);
      pendingState = w.prepare(2); // not committed: a restore commits it
      assertEquals(1, pendingState.getTransactionsCount(), "prepared at 2: " + pendingState);
    }
    awaitCommitted(committedReader, first);

    // restored from the state's bytes, as a program that stored them does
    try (SinkWriter<String> w = sink.open(pendingState.toByteArray())) {
      assertEquals(1, w.opened().getRestoredTransactions(), "transactions committed by the restore");
    }
    List<String> both = new ArrayList<>(first);
    both.addAll(second);
    awaitCommitted(committedReader, both);
  }

  /** Commit markers land just after the commit: read with read_committed until they show. */
  private static void awaitCommitted(KafkaSource<String> source, List<String> expected)
      throws InterruptedException {
    long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
    List<String> got;
    do {
      got = valuesOf(readAll(source));
      if (got.size() >= expected.size()) {
        break;
      }
      Thread.sleep(100);
    } while (System.nanoTime() < deadline);
    assertEquals(expected.size(), got.size(), "read_committed records");
    assertEquals(sorted(expected), sorted(got), "read_committed values");
  }

  @Test
  void checkpointRestoreRoundTripBounded() throws Exception {
    checkpointRestoreRoundTrip(true);
  }

  @Test
  void checkpointRestoreRoundTripUnbounded() throws Exception {
    checkpointRestoreRoundTrip(false);
  }

  private static KafkaSource<String> restoreSource(String topic, boolean bounded, int index, int n) {
    KafkaSource.Builder<String> b = sourceBuilder(topic).setReader(index, n);
    if (bounded) {
      b.setBounded(OffsetsInitializer.latest());
    }
    return b.build();
  }

  private void checkpointRestoreRoundTrip(boolean bounded) throws Exception {
    String topic = TestEnv.createTopic(admin, "flink-restore", 3);
    List<String> written = values("r", 0, 900);
    writeAcked(topic, written);
    KafkaSource<String> source = restoreSource(topic, bounded, 0, 1);

    List<String> beforeCheckpoint = new ArrayList<>();
    SourceState state;
    try (SourceReader<String> reader = source.open()) {
      for (int i = 0; i < 250; i++) {
        assertTrue(reader.hasNext());
        beforeCheckpoint.add(reader.next().value());
      }
      state = reader.checkpoint(7);
      assertEquals(3, state.getSplitsCount(), "splits in the state: " + state);
      // records after the checkpoint (lost in the "crash") continue exactly at the state
      Map<Integer, Long> next = new HashMap<>();
      state.getSplitsList().forEach(s -> next.put(s.getPartition(), s.getNextOffset()));
      Set<Integer> checked = new HashSet<>();
      for (int i = 0; i < 100 && reader.hasNext(); i++) {
        KafkaRecord<String> r = reader.next();
        if (checked.add(r.partition())) {
          assertEquals(next.get(r.partition()), r.offset(), "first record after the barrier: " + r);
        }
      }
    }

    // restore with two readers instead of one
    List<String> afterRestore = new ArrayList<>();
    int remaining = written.size() - beforeCheckpoint.size();
    for (int index = 0; index < 2; index++) {
      // reader 0 restores the state, reader 1 its bytes, as a program that stored them does
      KafkaSource<String> restored = restoreSource(topic, bounded, index, 2);
      try (SourceReader<String> reader = index == 0 ? restored.open(state) : restored.open(state.toByteArray())) {
        if (bounded) {
          reader.forEach(r -> afterRestore.add(r.value()));
          continue;
        }
        // unbounded: poll until nothing more comes for a while
        KafkaRecord<String> r;
        Duration quiet = Duration.ofMillis(index == 1 ? 500 : 300);
        long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
          r = reader.poll(afterRestore.size() >= remaining ? quiet : Duration.ofSeconds(2));
          if (r == null) {
            if (afterRestore.size() >= remaining || index == 0) {
              break;
            }
            continue;
          }
          afterRestore.add(r.value());
        }
      }
    }
    List<String> all = new ArrayList<>(beforeCheckpoint);
    all.addAll(afterRestore);
    assertEquals(written.size(), all.size(), "records before the checkpoint plus after the restore");
    assertEquals(sorted(written), sorted(all), "nothing lost or repeated");
  }

  @Test
  void invalidArgumentIsFerryException() {
    FerryException e = assertThrows(FerryException.class, () -> KafkaSource.<String>builder()
        .setFerryChannel(channel)
        .setTopicPattern("(?=lookahead).*")
        .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(new SimpleStringSchema()))
        .build()
        .open()
        .close());
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getCode(), e.getMessage());
    assertTrue(e.getFerryMessage().contains("topic_pattern"), e.getFerryMessage());

    FerryException p = assertThrows(FerryException.class,
        () -> sinkBuilder("any", DeliveryGuarantee.AT_LEAST_ONCE)
            .setProperty("no.such.property", "1").build().open().close());
    assertEquals(Status.Code.INVALID_ARGUMENT, p.getCode(), p.getMessage());
    assertTrue(p.getFerryMessage().contains("no.such.property"), p.getFerryMessage());
  }

  @Test
  void builderMisuse() {
    assertThrows(IllegalStateException.class, () -> KafkaSource.<String>builder()
        .setFerryChannel(channel).setTopics("a").setTopicPattern("b")
        .setValueOnlyDeserializer(new SimpleStringSchema()).build());
    assertThrows(IllegalArgumentException.class,
        () -> KafkaSource.<String>builder().setReader(2, 2));
    assertNotNull(OffsetsInitializer.earliest().toProto());
    assertThrows(NullPointerException.class, () -> KafkaSink.<String>builder()
        .setFerryChannel(channel).build());
    assertThrows(IllegalArgumentException.class, () -> sourceBuilder("t").build().open(new byte[] {(byte) 0xff}));
  }
}
