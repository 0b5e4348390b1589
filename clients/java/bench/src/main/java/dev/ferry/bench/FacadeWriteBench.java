package dev.ferry.bench;

import dev.ferry.client.DeliveryGuarantee;
import dev.ferry.client.KafkaRecordSerializationSchema;
import dev.ferry.client.KafkaSink;
import dev.ferry.client.SinkWriter;
import java.util.Random;

/**
 * AT_LEAST_ONCE writes through ferry with the Java client's Flink-style facade ({@link KafkaSink},
 * {@link SinkWriter}), for {@code make bench} (protocol in {@link BenchProtocol}):
 * FERRY_BENCH_WARMUPS writes of FERRY_BENCH_WARMUP_N records into FERRY_BENCH_WARMUP_TOPIC first
 * (for the JIT), then the line {@code timed}, the measured write of FERRY_BENCH_N records into
 * FERRY_BENCH_TOPIC, and last {@code records=N bytes=B seconds=S cpu=C cold_seconds=X}. N is the
 * writer's {@code recordsWritten()} after close (ferry's closed answer), S runs from opening the
 * writer (its own channel, as with setFerryAddress) to the end of its close; X is the time of the
 * first write in the JVM, a warm-up of FERRY_BENCH_WARMUP_N records when there are warm-ups.
 * Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_N, FERRY_BENCH_VALUE_SIZE,
 * FERRY_BENCH_BATCH (the sink's setMaxBatchRecords, records per batch message, default 1000),
 * FERRY_BENCH_WARMUPS (default 0), FERRY_BENCH_WARMUP_TOPIC (required with warm-ups),
 * FERRY_BENCH_WARMUP_N (default FERRY_BENCH_N).
 *
 * <p>This is what a user writes: one {@code write} per value (the writer buffers them and sends a
 * batch when it is full, under gRPC flow control), a {@code byte[]} value serializer; each record
 * is serialized into a new SinkRecord (the value copied), unlike the stub client's batches built
 * once.
 */
public final class FacadeWriteBench {
  private FacadeWriteBench() {}

  public static void main(String[] args) throws Exception {
    String addr = BenchProtocol.env("FERRY_ADDR");
    String topic = BenchProtocol.env("FERRY_BENCH_TOPIC");
    long n = BenchProtocol.env("FERRY_BENCH_N", -1);
    int size = (int) BenchProtocol.env("FERRY_BENCH_VALUE_SIZE", -1);
    int batch = (int) BenchProtocol.env("FERRY_BENCH_BATCH", 1000);
    if (n < 0 || size < 0) {
      throw new IllegalArgumentException("FERRY_BENCH_N and FERRY_BENCH_VALUE_SIZE are required");
    }
    long warmN = BenchProtocol.env("FERRY_BENCH_WARMUP_N", n);
    byte[] value = new byte[size];
    new Random().nextBytes(value);
    KafkaSink<byte[]> warmSink =
        BenchProtocol.warmups() > 0
            ? sink(addr, BenchProtocol.env("FERRY_BENCH_WARMUP_TOPIC"), batch)
            : null;
    KafkaSink<byte[]> sink = sink(addr, topic, batch);
    BenchProtocol.main(() -> write(warmSink, warmN, value), () -> write(sink, n, value));
  }

  private static KafkaSink<byte[]> sink(String addr, String topic, int batch) {
    return KafkaSink.<byte[]>builder()
        .setFerryAddress(addr)
        .setRecordSerializer(
            KafkaRecordSerializationSchema.<byte[]>builder()
                .setTopic(topic)
                .setValueSerializationSchema(bytes -> bytes)
                .build())
        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .setMaxBatchRecords(batch)
        .build();
  }

  /** Writes {@code n} records; returns {records close counted, value bytes written}. */
  private static long[] write(KafkaSink<byte[]> sink, long n, byte[] value) {
    SinkWriter<byte[]> writer = sink.open();
    try (writer) {
      for (long i = 0; i < n; i++) {
        writer.write(value);
      }
    } // close flushed and waited for ferry's closed answer
    return new long[] {writer.recordsWritten(), n * value.length};
  }
}
