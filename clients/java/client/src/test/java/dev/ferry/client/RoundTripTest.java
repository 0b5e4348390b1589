package dev.ferry.client;

import static dev.ferry.client.TestEnv.TIMEOUT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.ByteString;
import dev.ferry.v1.Boundedness;
import dev.ferry.v1.Close;
import dev.ferry.v1.Header;
import dev.ferry.v1.OpenSink;
import dev.ferry.v1.OpenSource;
import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.Record;
import dev.ferry.v1.SinkRecord;
import dev.ferry.v1.SinkSpec;
import dev.ferry.v1.SourceOpened;
import dev.ferry.v1.SourceSpec;
import dev.ferry.v1.SplitFinished;
import dev.ferry.v1.SplitState;
import dev.ferry.v1.TimestampType;
import dev.ferry.v1.TopicList;
import dev.ferry.v1.WriteBatch;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Writes records through ferry's SinkService into a real Kafka topic, checks them with a plain Kafka
 * consumer, and reads them back through ferry's SourceService, field by field.
 */
class RoundTripTest {
  private static final int PARTITIONS = 3;
  private static final int RECORDS = 1200;
  private static final int BATCH_SIZE = 150;

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

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void sinkThenSourceRoundTrip() throws Exception {
    String topic = TestEnv.createTopic(admin, "roundtrip", PARTITIONS);
    long baseTs = System.currentTimeMillis() - Duration.ofDays(1).toMillis();
    List<SinkRecord> written = records(topic, baseTs);

    // 1. Write through ferry.
    long writeStart = System.currentTimeMillis();
    writeAll(topic, written);
    long writeEnd = System.currentTimeMillis();

    // 2. Kafka itself: the partitions' end offsets, and every record a plain consumer sees.
    Map<Integer, Long> endOffsets = endOffsets(topic);
    assertEquals(RECORDS, endOffsets.values().stream().mapToLong(Long::longValue).sum(),
        "end offsets of " + topic + " after the sink closed: " + endOffsets);
    Map<String, ConsumerRecord<byte[], byte[]>> inKafka = consumeWithKafka(topic, endOffsets);
    assertEquals(RECORDS, inKafka.size(), "records a plain Kafka consumer read from " + topic);

    // 3. Read back through ferry.
    List<Record> read = readAll(topic, endOffsets);

    // 4. Compare, collecting every problem so that one run shows them all.
    List<String> problems = new ArrayList<>();
    Map<String, List<Integer>> bySignature = new HashMap<>();
    for (int i = 0; i < written.size(); i++) {
      SinkRecord w = written.get(i);
      bySignature.computeIfAbsent(
          signature(w.hasKey(), w.getKey(), w.hasValue(), w.getValue(), w.getHeadersList()),
          k -> new ArrayList<>()).add(i);
    }
    boolean[] matched = new boolean[written.size()];
    Set<String> seenPositions = new HashSet<>();
    for (Record r : read) {
      String where = "record " + r.getTopic() + "/" + r.getPartition() + "@" + r.getOffset();
      if (!seenPositions.add(r.getPartition() + "@" + r.getOffset())) {
        problems.add(where + " was delivered twice");
        continue;
      }
      String sig = signature(r.hasKey(), r.getKey(), r.hasValue(), r.getValue(), r.getHeadersList());
      Integer index = null;
      for (int candidate : bySignature.getOrDefault(sig, List.of())) {
        SinkRecord w = written.get(candidate);
        if (!matched[candidate]
            && (bySignature.get(sig).size() == 1 || w.getTimestampMs() == r.getTimestampMs())) {
          index = candidate;
          break;
        }
      }
      if (index == null) {
        problems.add(where + " matches no written record (or a record already matched): " + sig
            + " timestamp=" + r.getTimestampMs());
        continue;
      }
      matched[index] = true;
      SinkRecord w = written.get(index);
      String what = where + " (written record #" + index + ")";

      if (!r.getTopic().equals(topic)) {
        problems.add(what + ": topic " + r.getTopic() + ", want " + topic);
      }
      if (r.getTimestampType() != TimestampType.TIMESTAMP_TYPE_CREATE_TIME) {
        problems.add(what + ": timestamp_type " + r.getTimestampType() + ", want CREATE_TIME");
      }
      if (w.hasTimestampMs()) {
        if (r.getTimestampMs() != w.getTimestampMs()) {
          problems.add(what + ": timestamp_ms " + r.getTimestampMs() + ", want " + w.getTimestampMs());
        }
      } else if (r.getTimestampMs() < writeStart || r.getTimestampMs() > writeEnd) {
        problems.add(what + ": timestamp_ms " + r.getTimestampMs() + " (none was given: want the time"
            + " of writing, in [" + writeStart + ", " + writeEnd + "])");
      }
      if (w.hasPartition()) {
        if (r.getPartition() != w.getPartition()) {
          problems.add(what + ": partition " + r.getPartition() + ", want the explicit " + w.getPartition());
        }
      } else if (w.hasKey()) {
        // Kafka's default partitioner, as the Java producer places a non-null key (empty included).
        int want = Utils.toPositive(Utils.murmur2(w.getKey().toByteArray())) % PARTITIONS;
        if (r.getPartition() != want) {
          problems.add(what + ": partition " + r.getPartition() + ", want " + want
              + " (murmur2 of the key " + b64(w.getKey()) + ", as Kafka's default partitioner)");
        }
      }

      ConsumerRecord<byte[], byte[]> k = inKafka.get(r.getPartition() + "@" + r.getOffset());
      if (k == null) {
        problems.add(what + ": a plain Kafka consumer saw no record at this position");
        continue;
      }
      String kafkaSig = signature(k.key() != null, k.key() == null ? ByteString.EMPTY : ByteString.copyFrom(k.key()),
          k.value() != null, k.value() == null ? ByteString.EMPTY : ByteString.copyFrom(k.value()),
          kafkaHeaders(k));
      if (!kafkaSig.equals(sig)) {
        problems.add(what + ": ferry gave " + sig + ", Kafka has " + kafkaSig);
      }
      if (k.timestamp() != r.getTimestampMs()) {
        problems.add(what + ": ferry timestamp " + r.getTimestampMs() + ", Kafka has " + k.timestamp());
      }
      if (k.timestampType() != org.apache.kafka.common.record.TimestampType.CREATE_TIME) {
        problems.add(what + ": Kafka has timestamp type " + k.timestampType());
      }
      int kafkaEpoch = k.leaderEpoch().orElse(-1);
      if (r.getLeaderEpoch() != kafkaEpoch) {
        problems.add(what + ": leader_epoch " + r.getLeaderEpoch() + ", Kafka has " + kafkaEpoch);
      }
    }
    for (int i = 0; i < matched.length; i++) {
      if (!matched[i]) {
        SinkRecord w = written.get(i);
        problems.add("written record #" + i + " was not read back: "
            + signature(w.hasKey(), w.getKey(), w.hasValue(), w.getValue(), w.getHeadersList()));
      }
    }
    if (read.size() != RECORDS) {
      problems.add("read " + read.size() + " records through ferry, wrote " + RECORDS);
    }
    if (seenPositions.size() != inKafka.size()) {
      problems.add("ferry delivered " + seenPositions.size() + " distinct positions, Kafka has " + inKafka.size());
    }
    assertNoProblems(problems);
  }

  // ---------------------------------------------------------------- sink

  private static void writeAll(String topic, List<SinkRecord> records) throws InterruptedException {
    StreamRecorder<WriteResponse> responses = new StreamRecorder<>("SinkService.Write");
    StreamObserver<WriteRequest> requests =
        Ferry.sink(channel).withWaitForReady().write(responses);
    boolean clean = false;
    try {
      requests.onNext(WriteRequest.newBuilder()
          .setOpen(OpenSink.newBuilder().setSpec(SinkSpec.newBuilder().setDefaultTopic(topic)))
          .build());
      WriteResponse opened = responses.next(TIMEOUT, "opened");
      assertEquals(WriteResponse.KindCase.OPENED, opened.getKindCase(), "first sink response: " + opened);
      assertFalse(opened.getOpened().getSessionId().isEmpty(), "opened.session_id is empty: " + opened);

      long sequence = 0;
      for (int from = 0; from < records.size(); from += BATCH_SIZE) {
        List<SinkRecord> batch = records.subList(from, Math.min(records.size(), from + BATCH_SIZE));
        requests.onNext(WriteRequest.newBuilder()
            .setRecords(WriteBatch.newBuilder().setSequence(++sequence).addAllRecords(batch))
            .build());
      }
      requests.onNext(WriteRequest.newBuilder().setClose(Close.getDefaultInstance()).build());

      WriteResponse closed = responses.next(TIMEOUT, "closed");
      assertEquals(WriteResponse.KindCase.CLOSED, closed.getKindCase(),
          "sink response after close: " + closed);
      assertEquals(records.size(), closed.getClosed().getRecordsWritten(), "closed.records_written");
      responses.awaitCompleted(TIMEOUT);
      clean = true;
    } finally {
      finish(requests, clean);
    }
  }

  // ---------------------------------------------------------------- source

  private static List<Record> readAll(String topic, Map<Integer, Long> endOffsets)
      throws InterruptedException {
    StreamRecorder<ReadResponse> responses = new StreamRecorder<>("SourceService.Read");
    StreamObserver<ReadRequest> requests =
        Ferry.source(channel).withWaitForReady().read(responses);
    List<Record> records = new ArrayList<>();
    boolean clean = false;
    try {
      requests.onNext(ReadRequest.newBuilder()
          .setOpen(OpenSource.newBuilder().setSpec(SourceSpec.newBuilder()
              .setTopics(TopicList.newBuilder().addTopics(topic))
              .setBoundedness(Boundedness.BOUNDEDNESS_BOUNDED)))
          .build());

      ReadResponse first = responses.next(TIMEOUT, "opened");
      assertEquals(ReadResponse.KindCase.OPENED, first.getKindCase(), "first source response: " + first);
      SourceOpened opened = first.getOpened();
      assertFalse(opened.getSessionId().isEmpty(), "opened.session_id is empty: " + opened);
      assertTrue(opened.getBounded(), "opened.bounded: " + opened);
      assertEquals(PARTITIONS, opened.getSplitsCount(), "opened.splits: " + opened);
      Map<Integer, SplitState> splits = new TreeMap<>();
      for (SplitState s : opened.getSplitsList()) {
        assertEquals(topic, s.getTopic(), "split topic: " + s);
        assertEquals(null, splits.put(s.getPartition(), s), "split announced twice: " + s);
        assertEquals(0, s.getNextOffset(), "split start (earliest) of " + s);
        assertTrue(s.hasStoppingOffset(), "bounded split without a stopping offset: " + s);
        assertEquals(endOffsets.get(s.getPartition()), s.getStoppingOffset(),
            "stopping offset (latest) of " + s + "; Kafka's end offsets: " + endOffsets);
      }
      assertEquals(endOffsets.keySet(), splits.keySet(), "partitions of the splits");

      Map<Integer, Long> lastOffset = new HashMap<>();
      Map<Integer, Long> finished = new TreeMap<>();
      loop:
      while (true) {
        ReadResponse r = responses.next(TIMEOUT,
            "records / split_finished / end_of_input (" + records.size() + " records so far)");
        switch (r.getKindCase()) {
          case RECORDS -> {
            for (Record rec : r.getRecords().getRecordsList()) {
              int p = rec.getPartition();
              String where = rec.getTopic() + "/" + p + "@" + rec.getOffset();
              assertFalse(finished.containsKey(p), "record " + where + " after split_finished of its split");
              Long last = lastOffset.put(p, rec.getOffset());
              if (last != null && rec.getOffset() <= last) {
                fail("offsets not strictly increasing in partition " + p + ": " + last + " then " + rec.getOffset());
              }
              records.add(rec);
            }
          }
          case SPLIT_FINISHED -> {
            SplitFinished f = r.getSplitFinished();
            assertEquals(topic, f.getTopic(), "split_finished: " + f);
            assertEquals(null, finished.put(f.getPartition(), f.getStoppingOffset()),
                "split_finished twice for partition " + f.getPartition());
          }
          case END_OF_INPUT -> {
            break loop;
          }
          case IDLE -> {
            // harmless: no watermark strategy was asked for
          }
          default -> fail("unexpected message on a bounded source without checkpoints: " + r.getKindCase()
              + " " + r);
        }
      }
      responses.awaitCompleted(TIMEOUT);
      clean = true;
      assertEquals(endOffsets, finished,
          "split_finished (partition -> stopping offset) before end_of_input, want Kafka's end offsets");
    } finally {
      finish(requests, clean);
    }
    return records;
  }

  /** Half-closes a stream the server ended with OK, or cancels one a failed test leaves open. */
  private static <T> void finish(StreamObserver<T> requests, boolean clean) {
    try {
      if (clean) {
        requests.onCompleted();
      } else {
        requests.onError(Status.CANCELLED.withDescription("test failed").asRuntimeException());
      }
    } catch (RuntimeException ignored) {
      // the call is already over
    }
  }

  // ---------------------------------------------------------------- Kafka

  private static Map<Integer, Long> endOffsets(String topic) throws Exception {
    Map<org.apache.kafka.common.TopicPartition, OffsetSpec> request = new HashMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      request.put(new org.apache.kafka.common.TopicPartition(topic, p), OffsetSpec.latest());
    }
    Map<Integer, Long> out = new TreeMap<>();
    admin.listOffsets(request).all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
        .forEach((tp, info) -> out.put(tp.partition(), info.offset()));
    return out;
  }

  /** Reads the whole topic with a plain Kafka consumer; keyed by "partition@offset". */
  private static Map<String, ConsumerRecord<byte[], byte[]>> consumeWithKafka(
      String topic, Map<Integer, Long> endOffsets) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka);
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, "ferry-java-test-consumer");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    Map<String, ConsumerRecord<byte[], byte[]>> out = new LinkedHashMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<org.apache.kafka.common.TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < PARTITIONS; p++) {
        tps.add(new org.apache.kafka.common.TopicPartition(topic, p));
      }
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (tps.stream().anyMatch(tp -> consumer.position(tp, TIMEOUT) < endOffsets.get(tp.partition()))) {
        if (System.nanoTime() > deadline) {
          fail("a plain Kafka consumer did not reach the end offsets " + endOffsets + " within "
              + TIMEOUT + "; it read " + out.size() + " records");
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          out.put(r.partition() + "@" + r.offset(), r);
        }
      }
    }
    return out;
  }

  private static List<Header> kafkaHeaders(ConsumerRecord<byte[], byte[]> r) {
    List<Header> out = new ArrayList<>();
    for (org.apache.kafka.common.header.Header h : r.headers()) {
      Header.Builder b = Header.newBuilder().setKey(h.key());
      if (h.value() != null) {
        b.setValue(ByteString.copyFrom(h.value()));
      }
      out.add(b.build());
    }
    return out;
  }

  // ---------------------------------------------------------------- records

  /**
   * RECORDS varied records: key absent / empty / set, value absent (tombstone) / empty / text /
   * binary, headers none / one / a repeated key in a significant order with an absent value / an
   * absent value first, explicit or absent timestamp, explicit or absent partition, and the topic
   * empty (the default topic) or named. Every record is unique by key, value and headers, except the
   * bare ones (no non-empty key or value, no header), which all carry distinct explicit timestamps.
   */
  static List<SinkRecord> records(String topic, long baseTs) {
    List<SinkRecord> out = new ArrayList<>(RECORDS);
    for (int i = 0; i < RECORDS; i++) {
      SinkRecord.Builder b = SinkRecord.newBuilder();
      if (i % 11 == 0) {
        b.setTopic(topic);
      }
      int keyMode = i % 3;
      switch (keyMode) {
        case 1 -> b.setKey(ByteString.EMPTY);
        case 2 -> b.setKey(utf8("key-" + i));
        default -> { } // absent: a null key
      }
      int valueMode = (i / 3) % 4;
      switch (valueMode) {
        case 1 -> b.setValue(ByteString.EMPTY);
        case 2 -> b.setValue(utf8("value-" + i + "-\u00e9\u4e2d"));
        case 3 -> b.setValue(binary(i));
        default -> { } // absent: a tombstone
      }
      int headerMode = (i / 12) % 4;
      switch (headerMode) {
        case 1 -> b.addHeaders(header("id", utf8(Integer.toString(i))));
        case 2 -> b.addHeaders(header("dup", utf8("first-" + i)))
            .addHeaders(header("null-value", null))
            .addHeaders(header("dup", utf8("second-" + i)))
            .addHeaders(header("dup", ByteString.EMPTY));
        case 3 -> b.addHeaders(header("trace", null))
            .addHeaders(header("trace", utf8("t-" + i)))
            .addHeaders(header("", utf8("empty key")));
        default -> { } // no headers
      }
      boolean bare = keyMode != 2 && valueMode < 2 && headerMode == 0;
      if (bare || i % 2 == 0) {
        b.setTimestampMs(baseTs + i * 7L);
      }
      if (i % 5 == 0) {
        b.setPartition((i / 5) % PARTITIONS);
      }
      out.add(b.build());
    }
    return out;
  }

  private static Header header(String key, ByteString value) {
    Header.Builder b = Header.newBuilder().setKey(key);
    if (value != null) {
      b.setValue(value);
    }
    return b.build();
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFrom(s, StandardCharsets.UTF_8);
  }

  /** Every byte value, with the index in front. */
  private static ByteString binary(int i) {
    ByteBuffer buf = ByteBuffer.allocate(4 + 256 + i % 64);
    buf.putInt(i);
    for (int j = 0; buf.hasRemaining(); j++) {
      buf.put((byte) (j + i));
    }
    return ByteString.copyFrom(buf.array());
  }

  private static String b64(ByteString b) {
    return Base64.getEncoder().encodeToString(b.toByteArray());
  }

  /** Key, value and headers (in order), with absent told apart from empty. */
  static String signature(boolean hasKey, ByteString key, boolean hasValue, ByteString value,
      List<Header> headers) {
    StringBuilder sb = new StringBuilder();
    sb.append("key=").append(hasKey ? "'" + b64(key) + "'" : "null");
    sb.append(" value=").append(hasValue ? "'" + b64(value) + "'" : "null");
    sb.append(" headers=[");
    for (Header h : headers) {
      sb.append(h.getKey()).append('=').append(h.hasValue() ? "'" + b64(h.getValue()) + "'" : "null").append(';');
    }
    return sb.append(']').toString();
  }

  private static void assertNoProblems(List<String> problems) {
    if (problems.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(problems.size() + " problem(s):");
    problems.stream().limit(30).forEach(p -> sb.append("\n  ").append(p));
    if (problems.size() > 30) {
      sb.append("\n  ... and ").append(problems.size() - 30).append(" more");
    }
    fail(sb.toString());
  }
}
