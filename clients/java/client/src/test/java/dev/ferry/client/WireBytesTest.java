package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.ferry.v1.EndOfInput;
import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.Record;
import dev.ferry.v1.RecordBatch;
import dev.ferry.v1.SourceOpened;
import dev.ferry.v1.SourceServiceGrpc;
import dev.ferry.v1.TimestampType;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A reader with a value-only deserializer hands the keys and values of the records it parsed over
 * without copying them (WireBytes): the records are the same as through a deserializer of the whole
 * record, which copies (key, value, headers, timestamps, null and empty keys and values), and each
 * array belongs to one record only. Against a scripted server, no Kafka needed.
 */
@Timeout(60)
class WireBytesTest {
  /** What the scripted server sends, in two batches. */
  private static final List<Record> RECORDS = List.of(
      record("t", 0, 10, 1_700_000_000_000L, TimestampType.TIMESTAMP_TYPE_CREATE_TIME,
          bytes("key-0"), bytes("value-0"), header("h", bytes("x")), header("null", null), header("empty", new byte[0])),
      record("t", 1, 11, 1_700_000_000_001L, TimestampType.TIMESTAMP_TYPE_LOG_APPEND_TIME,
          null, bytes("no key")),
      record("t", 2, 12, 0, TimestampType.TIMESTAMP_TYPE_CREATE_TIME,
          new byte[0], new byte[0]), // empty key and empty value, not null ones
      record("t", 0, 13, -1, TimestampType.TIMESTAMP_TYPE_UNSPECIFIED,
          bytes("tombstone"), null), // a null value
      record("other", 3, 14, Long.MAX_VALUE, TimestampType.TIMESTAMP_TYPE_CREATE_TIME,
          null, null),
      record("other", 3, 15, 42, TimestampType.TIMESTAMP_TYPE_CREATE_TIME,
          bytes("k"), big(200_000), header("k", big(3000))),
      record("t", 0, 16, 43, TimestampType.TIMESTAMP_TYPE_CREATE_TIME,
          bytes("key-0"), bytes("value-0"))); // the same bytes as the first: arrays of their own

  private static Server server;
  private static ManagedChannel channel;

  @BeforeAll
  static void setUp() throws IOException {
    server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
        .addService(new ScriptedSource())
        .build()
        .start();
    channel = Ferry.connect("127.0.0.1:" + server.getPort());
  }

  @AfterAll
  static void tearDown() throws InterruptedException {
    channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
  }

  @Test
  void valueOnlyReadsWhatAWholeRecordDeserializerReads() {
    List<KafkaRecord<byte[]>> copied = read(r -> r.hasValue() ? r.getValue().toByteArray() : null);
    List<KafkaRecord<byte[]>> handedOver = read(KafkaRecordDeserializationSchema.valueOnly(b -> b));
    assertRecords(copied);
    assertRecords(handedOver);
  }

  @Test
  void kafkaValueOnlyReadsTheSame() {
    assertRecords(read(KafkaRecordDeserializationSchema.valueOnly(ByteArrayDeserializer.class)));
  }

  @Test
  void setValueOnlyDeserializerGetsTopicAndValue() {
    List<String> got = new ArrayList<>();
    for (KafkaRecord<String> r : read(KafkaRecordDeserializationSchema.valueOnly(
        b -> b == null ? "null" : new String(b, StandardCharsets.UTF_8)))) {
      got.add(r.value());
    }
    assertEquals(List.of("value-0", "no key", "", "null", "null", new String(big(200_000), StandardCharsets.UTF_8), "value-0"), got);
  }

  @Test
  void eachRecordOwnsItsKeyAndValue() {
    List<KafkaRecord<byte[]>> a = read(KafkaRecordDeserializationSchema.valueOnly(b -> b));
    List<KafkaRecord<byte[]>> b = read(KafkaRecordDeserializationSchema.valueOnly(b2 -> b2));
    for (int i = 0; i < a.size(); i++) {
      for (byte[] x : new byte[][] {a.get(i).key(), a.get(i).value()}) {
        if (x == null || x.length == 0) {
          continue;
        }
        for (int j = 0; j < a.size(); j++) {
          assertNotSame(x, b.get(j).key());
          assertNotSame(x, b.get(j).value());
          if (j != i) {
            assertNotSame(x, a.get(j).key());
            assertNotSame(x, a.get(j).value());
          }
        }
      }
    }
    a.get(0).key()[0]++; // changes that record only
    a.get(0).value()[0]++;
    assertArrayEquals(bytes("key-0"), a.get(6).key());
    assertArrayEquals(bytes("value-0"), a.get(6).value());
    assertRecords(b);
  }

  @Test
  void valueOnlyCalledWithARecordCopiesItsValue() {
    Record r = RECORDS.get(0);
    byte[] got = KafkaRecordDeserializationSchema.<byte[]>valueOnly(b -> b).deserialize(r);
    assertArrayEquals(bytes("value-0"), got);
    got[0]++;
    assertEquals(ByteString.copyFrom(bytes("value-0")), r.getValue());
    assertNull(KafkaRecordDeserializationSchema.<byte[]>valueOnly(b -> b).deserialize(RECORDS.get(3)));
  }

  @Test
  void takesTheArrayOfAParsedBytesField() throws IOException {
    ByteString parsed = Record.parseFrom(RECORDS.get(0).toByteArray()).getValue();
    byte[] a = new WireBytes().take(parsed);
    assertArrayEquals(bytes("value-0"), a);
    a[0]++; // the ByteString's own array: no copy was made
    assertEquals(a[0], parsed.byteAt(0));
  }

  @Test
  void copiesWhatIsNotOneWholeArray() {
    WireBytes w = new WireBytes();
    byte[] backing = bytes("0123456789");
    List<ByteString> shared = List.of(
        UnsafeByteOperations.unsafeWrap(backing, 2, 5), // a slice
        ByteString.copyFrom(backing).substring(1, 9),
        ByteString.copyFrom(big(200)).concat(ByteString.copyFrom(big(300))), // a rope (short ones are flattened)
        UnsafeByteOperations.unsafeWrap(ByteBuffer.wrap(backing, 1, 4).slice()),
        UnsafeByteOperations.unsafeWrap(ByteBuffer.allocateDirect(4).put(bytes("abcd")).flip()));
    for (ByteString s : shared) {
      byte[] got = w.take(s);
      assertArrayEquals(s.toByteArray(), got);
      got[0]++;
      assertFalse(Arrays.equals(s.toByteArray(), got), "a copy, not " + s + "'s array");
    }
    assertArrayEquals(bytes("0123456789"), backing);
    assertEquals(0, w.take(ByteString.EMPTY).length);
    byte[] whole = bytes("whole");
    assertSame(whole, w.take(UnsafeByteOperations.unsafeWrap(whole)));
    assertTrue(w.take(ByteString.copyFrom(new byte[0])).length == 0);
  }

  private static void assertRecords(List<? extends KafkaRecord<?>> got) {
    assertEquals(RECORDS.size(), got.size());
    for (int i = 0; i < RECORDS.size(); i++) {
      Record want = RECORDS.get(i);
      KafkaRecord<?> r = got.get(i);
      String at = "record " + i;
      assertEquals(want.getTopic(), r.topic(), at);
      assertEquals(want.getPartition(), r.partition(), at);
      assertEquals(want.getOffset(), r.offset(), at);
      assertEquals(want.getTimestampMs(), r.timestamp(), at);
      assertEquals(want.getTimestampType(), r.timestampType(), at);
      if (want.hasKey()) {
        assertArrayEquals(want.getKey().toByteArray(), r.key(), at);
      } else {
        assertNull(r.key(), at);
      }
      assertEquals(want.getHeadersList(), r.headers(), at);
      if (want.hasValue()) {
        assertArrayEquals(want.getValue().toByteArray(), (byte[]) r.value(), at);
      } else {
        assertNull(r.value(), at);
      }
    }
  }

  private static <T> List<KafkaRecord<T>> read(KafkaRecordDeserializationSchema<T> deserializer) {
    KafkaSource<T> source = KafkaSource.<T>builder()
        .setFerryChannel(channel)
        .setTopics("t", "other")
        .setBounded(OffsetsInitializer.latest())
        .setDeserializer(deserializer)
        .build();
    List<KafkaRecord<T>> out = new ArrayList<>();
    try (SourceReader<T> reader = source.open()) {
      reader.forEach(out::add);
    }
    return out;
  }

  private static Record record(String topic, int partition, long offset, long timestamp, TimestampType type,
      byte[] key, byte[] value, dev.ferry.v1.Header... headers) {
    Record.Builder b = Record.newBuilder()
        .setTopic(topic).setPartition(partition).setOffset(offset)
        .setTimestampMs(timestamp).setTimestampType(type).setLeaderEpoch(-1)
        .addAllHeaders(List.of(headers));
    if (key != null) {
      b.setKey(ByteString.copyFrom(key));
    }
    if (value != null) {
      b.setValue(ByteString.copyFrom(value));
    }
    return b.build();
  }

  private static dev.ferry.v1.Header header(String key, byte[] value) {
    dev.ferry.v1.Header.Builder b = dev.ferry.v1.Header.newBuilder().setKey(key);
    if (value != null) {
      b.setValue(ByteString.copyFrom(value));
    }
    return b.build();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] big(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) ('a' + i % 26);
    }
    return b;
  }

  /** Answers open with the records in two batches and end of input, then ends the stream OK. */
  private static final class ScriptedSource extends SourceServiceGrpc.SourceServiceImplBase {
    @Override
    public StreamObserver<ReadRequest> read(StreamObserver<ReadResponse> out) {
      return new StreamObserver<>() {
        @Override
        public void onNext(ReadRequest req) {
          if (req.hasOpen()) {
            out.onNext(ReadResponse.newBuilder().setOpened(SourceOpened.newBuilder().setSessionId("scripted")).build());
            out.onNext(ReadResponse.newBuilder().setRecords(RecordBatch.newBuilder().addAllRecords(RECORDS.subList(0, 3))).build());
            out.onNext(ReadResponse.newBuilder().setRecords(RecordBatch.newBuilder().addAllRecords(RECORDS.subList(3, RECORDS.size()))).build());
            out.onNext(ReadResponse.newBuilder().setEndOfInput(EndOfInput.getDefaultInstance()).build());
            out.onCompleted();
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
      };
    }
  }
}
