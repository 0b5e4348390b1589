package dev.ferry.bench;

import dev.ferry.client.KafkaRecord;
import dev.ferry.client.KafkaRecordDeserializationSchema;
import dev.ferry.client.KafkaSource;
import dev.ferry.client.OffsetsInitializer;
import dev.ferry.client.SourceReader;

/**
 * Bounded read of a topic through ferry with the Java client's Flink-style facade ({@link
 * KafkaSource}, {@link SourceReader}), for {@code make bench} (protocol in {@link BenchProtocol}):
 * FERRY_BENCH_WARMUPS whole reads first (for the JIT), then the line {@code timed}, the measured
 * read, and last {@code records=N bytes=B seconds=S cpu=C cold_seconds=X}. S runs from opening the
 * reader (its own channel, as with setFerryAddress) to the end of iteration and its close; X is
 * the first read's time. Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_WARMUPS (default
 * 0).
 *
 * <p>This is what a user writes: records come as {@link KafkaRecord}s whose value is the value's
 * bytes ({@code valueOnly(bytes -> bytes)}: the reader hands each value's array over as parsed
 * from the message, without copying it again).
 */
public final class FacadeReadBench {
  private FacadeReadBench() {}

  public static void main(String[] args) throws Exception {
    KafkaSource<byte[]> source =
        KafkaSource.<byte[]>builder()
            .setFerryAddress(BenchProtocol.env("FERRY_ADDR"))
            .setTopics(BenchProtocol.env("FERRY_BENCH_TOPIC"))
            .setStartingOffsets(OffsetsInitializer.earliest())
            .setBounded(OffsetsInitializer.latest())
            .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(bytes -> bytes))
            .build();
    BenchProtocol.main(() -> read(source), () -> read(source));
  }

  /** Reads the source whole; returns {records, value bytes}. */
  private static long[] read(KafkaSource<byte[]> source) {
    long records = 0;
    long bytes = 0;
    try (SourceReader<byte[]> reader = source.open()) {
      for (KafkaRecord<byte[]> r : reader) {
        records++;
        bytes += r.value() == null ? 0 : r.value().length;
      }
    }
    return new long[] {records, bytes};
  }
}
