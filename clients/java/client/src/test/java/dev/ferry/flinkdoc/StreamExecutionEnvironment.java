package dev.ferry.flinkdoc;

import dev.ferry.client.KafkaRecord;
import dev.ferry.client.KafkaSource;
import dev.ferry.client.SourceReader;
import dev.ferry.client.WatermarkStrategy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A stand-in for Flink's StreamExecutionEnvironment in the document's snippets (test code, not part
 * of ferry-client): ferry has no job runtime, so {@link #fromSource} runs the source at once instead
 * of building a job graph. It opens one reader of the source with the given watermark strategy
 * ({@link KafkaSource#withWatermarkStrategy}), takes records until none came for
 * {@link #IDLE} (an unbounded source never ends by itself) or {@link #MAX_RECORDS} came, and closes
 * the reader; the records become the stream's elements.
 */
public final class StreamExecutionEnvironment {
  /** fromSource stops after no record came this long. */
  static final Duration IDLE = Duration.ofSeconds(2);
  /** fromSource stops after this many records. */
  static final int MAX_RECORDS = 10_000;

  private StreamExecutionEnvironment() {}

  /** Flink's factory. */
  public static StreamExecutionEnvironment getExecutionEnvironment() {
    return new StreamExecutionEnvironment();
  }

  /** Runs the source as said above and returns what it read. */
  public <T> DataStream<T> fromSource(KafkaSource<T> source, WatermarkStrategy<?> strategy, String sourceName) {
    List<T> values = new ArrayList<>();
    try (SourceReader<T> reader = source.withWatermarkStrategy(strategy).open()) {
      KafkaRecord<T> r;
      while (values.size() < MAX_RECORDS && (r = reader.poll(IDLE)) != null) {
        values.add(r.value());
      }
    }
    DocRun.note("env.fromSource(\"" + sourceName + "\", " + strategy + "): read " + values.size() + " records");
    return new DataStream<>(values);
  }

  /** Flink's fromElements: a stream of these elements. */
  @SafeVarargs
  public final <T> DataStream<T> fromElements(T... elements) {
    return new DataStream<>(Arrays.asList(elements));
  }
}
