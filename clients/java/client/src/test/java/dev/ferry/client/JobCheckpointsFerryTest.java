package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.ferry.v1.CompleteCheckpointResponse;
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
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A job whose checkpoints ferry keeps, against the real ferry server and broker: a read, transform,
 * write EXACTLY_ONCE copy that holds no state, stopped after a completed checkpoint and more
 * uncommitted work, restored with another parallelism: the output under read_committed holds every
 * input value exactly once. And a completion some stream never answered, refused naming it.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class JobCheckpointsFerryTest {
  private static final int PARTITIONS = 4;
  private static ManagedChannel channel;
  private static Admin admin;

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

  @Test
  void aStatelessCopyRestoresWithAnotherParallelismExactlyOnce() throws Exception {
    String in = TestEnv.createTopic(admin, "job-in", PARTITIONS);
    String out = TestEnv.createTopic(admin, "job-out", PARTITIONS);
    List<String> values = IntStream.range(0, 400).mapToObj(i -> String.format("v-%04d", i)).toList();
    writeInput(in, values);
    String job = "java-job-" + UUID.randomUUID();
    JobCoordinator coordinator = new JobCoordinator(job, channel, null, TestEnv.TIMEOUT);

    // Life 1: two readers; checkpoint 1 completes, then more is copied that never completes.
    List<SourceReader<String>> readers = readers(in, job, 2);
    SinkWriter<String> writer = writer(out, job);
    try {
      for (SourceReader<String> r : readers) {
        assertEquals(0, r.restoredCheckpointId());
        assertFalse(r.restoreNote().isEmpty(), "a fresh start says so");
      }
      assertEquals(0, writer.restoredCheckpointId());
      copy(readers, writer, 150);
      CompleteCheckpointResponse done = coordinator.checkpoint(1, readers, List.of(writer), process(writer));
      assertEquals(Map.of("source", 2, "sink", 1), done.getOperatorsMap());
      assertEquals(1, writer.awaitCommitted(1, TestEnv.TIMEOUT));
      copy(readers, writer, 50);
      writer.flush();
    } finally {
      readers.forEach(SourceReader::close);
      writer.close(); // the open transaction is aborted: the last 50 come again
    }

    // Life 2: three readers restore the union of the two readers' states of checkpoint 1.
    readers = readers(in, job, 3);
    writer = writer(out, job);
    try {
      for (SourceReader<String> r : readers) {
        assertEquals(1, r.restoredCheckpointId(), r.restoreNote());
      }
      assertEquals(1, writer.restoredCheckpointId(), writer.restoreNote());
      copy(readers, writer, Integer.MAX_VALUE);
      coordinator.checkpoint(2, readers, List.of(writer), process(writer));
      assertEquals(2, writer.awaitCommitted(2, TestEnv.TIMEOUT));
    } finally {
      readers.forEach(SourceReader::close);
      writer.close();
    }

    Map<String, Long> counts = TestEnv.readCommitted(TestEnv.kafkaBootstrap(), out, PARTITIONS).stream()
        .collect(Collectors.groupingBy(v -> v, TreeMap::new, Collectors.counting()));
    Map<String, Long> expected = values.stream()
        .collect(Collectors.toMap(v -> "out-" + v, v -> 1L, (a, b) -> a, TreeMap::new));
    assertEquals(expected, counts);
  }

  @Test
  void aCompletionSomeStreamNeverAnsweredIsRefusedNamingIt() throws Exception {
    String in = TestEnv.createTopic(admin, "job-unanswered", 2);
    String job = "java-unanswered-" + UUID.randomUUID();
    JobCoordinator coordinator = new JobCoordinator(job, channel, null, TestEnv.TIMEOUT);
    List<SourceReader<String>> readers = readers(in, job, 2);
    try {
      readers.get(0).checkpoint(1);
      FerryException e = assertThrows(FerryException.class, () -> coordinator.complete(1));
      assertEquals(Status.Code.FAILED_PRECONDITION, e.getCode());
      assertTrue(e.getFerryMessage().contains("operator \"source\" index 1"), e.getFerryMessage());
      readers.get(1).checkpoint(1);
      assertEquals(Map.of("source", 2), coordinator.complete(1).getOperatorsMap());
      assertThrows(IllegalStateException.class, () -> readers.get(0).notifyCheckpointComplete(1));
    } finally {
      readers.forEach(SourceReader::close);
    }
  }

  // ---- helpers ----

  private static void writeInput(String topic, List<String> values) {
    try (SinkWriter<String> w = KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(topic).setValueSerializationSchema(new SimpleStringSchema()).build())
        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build().open()) {
      for (int i = 0; i < values.size(); i++) {
        w.writeRecord(SinkRecord.newBuilder().setTopic(topic).setPartition(i % PARTITIONS)
            .setValue(ByteString.copyFrom(values.get(i), StandardCharsets.UTF_8)).build());
      }
      w.prepare(1);
      assertEquals(values.size(), w.recordsWritten());
    }
  }

  private static List<SourceReader<String>> readers(String topic, String job, int parallelism) {
    List<SourceReader<String>> out = new ArrayList<>();
    for (int i = 0; i < parallelism; i++) {
      out.add(KafkaSource.<String>builder()
          .setFerryChannel(channel)
          .setTopics(topic)
          .setStartingOffsets(OffsetsInitializer.earliest())
          .setValueOnlyDeserializer(new SimpleStringSchema())
          .setReader(i, parallelism)
          .setJob(job, "source")
          .build().open());
    }
    return out;
  }

  private static SinkWriter<String> writer(String topic, String job) {
    return KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(topic).setValueSerializationSchema(new SimpleStringSchema()).build())
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(job)
        .setJob(job, "sink")
        .build().open();
  }

  private static Consumer<List<KafkaRecord<String>>> process(SinkWriter<String> writer) {
    return records -> records.forEach(r -> writer.write("out-" + r.value()));
  }

  /** Copies up to {@code limit} records, round robin over the readers, until none comes for a second. */
  private static void copy(List<SourceReader<String>> readers, SinkWriter<String> writer, int limit) {
    int copied = 0;
    long idleSince = System.nanoTime();
    while (copied < limit && System.nanoTime() - idleSince < TimeUnit.SECONDS.toNanos(1)) {
      for (SourceReader<String> r : readers) {
        KafkaRecord<String> rec = copied < limit ? r.poll(Duration.ofMillis(20)) : null;
        if (rec != null) {
          writer.write("out-" + rec.value());
          copied++;
          idleSince = System.nanoTime();
        }
      }
    }
  }
}
