package dev.ferry.client;

import dev.ferry.v1.WatermarkKind;
import java.time.Duration;
import java.util.Objects;

/**
 * Event-time watermarks of a {@link KafkaSource}, with the factories of Flink's WatermarkStrategy;
 * pass it to {@link KafkaSource.Builder#setWatermarkStrategy}. The server generates the watermarks:
 * event time is always the Kafka record timestamp (there is no timestamp assigner), each split
 * (partition) has its own generator, and the reader's watermark is the minimum over its active
 * splits. A {@link SourceReader} reports them as {@link SourceEvent.WatermarkEvent} and
 * {@link SourceEvent.IdleEvent} (see {@link SourceReader#setEventListener}).
 *
 * <p>Instances are immutable; {@link #withIdleness} returns a new one. The type parameter only lets
 * Flink code such as {@code WatermarkStrategy.<Event>forBoundedOutOfOrderness(d)} compile unchanged;
 * it plays no part in ferry.
 *
 * <p>A strategy of your own (Flink's {@code new CustomWatermarkStrategy()}) cannot run its own
 * generator here, as the server makes the watermarks; it can be a subclass that names one of the
 * server's strategies, so that code passing it compiles unchanged:
 *
 * <pre>{@code
 * class CustomWatermarkStrategy extends WatermarkStrategy<Event> {
 *   CustomWatermarkStrategy() {
 *     super(WatermarkStrategy.forBoundedOutOfOrderness(Duration.ofSeconds(5)));
 *   }
 * }
 * }</pre>
 *
 * @param <T> the element type of the source; unused
 */
public class WatermarkStrategy<T> {
  private final WatermarkKind kind;
  private final long maxOutOfOrdernessMs;
  private final Long idleTimeoutMs;

  private WatermarkStrategy(WatermarkKind kind, long maxOutOfOrdernessMs, Long idleTimeoutMs) {
    this.kind = kind;
    this.maxOutOfOrdernessMs = maxOutOfOrdernessMs;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  /**
   * For a strategy of your own that is one of the server's: a copy of {@code strategy}.
   *
   * @param strategy the server's strategy this one is
   */
  protected WatermarkStrategy(WatermarkStrategy<?> strategy) {
    this(Objects.requireNonNull(strategy, "strategy").kind, strategy.maxOutOfOrdernessMs, strategy.idleTimeoutMs);
  }

  /**
   * No watermarks and no idleness (Flink's {@code noWatermarks()}); the same as not calling
   * {@code setWatermarkStrategy}, which is the default. Do not combine it with
   * {@link #withIdleness}: the server refuses that at open with INVALID_ARGUMENT.
   */
  public static <T> WatermarkStrategy<T> noWatermarks() {
    return new WatermarkStrategy<>(WatermarkKind.WATERMARK_KIND_NONE, 0, null);
  }

  /**
   * Timestamps that only increase (Flink's {@code forMonotonousTimestamps()}): the watermark of a
   * split is its highest record timestamp minus 1 ms.
   */
  public static <T> WatermarkStrategy<T> forMonotonousTimestamps() {
    return new WatermarkStrategy<>(WatermarkKind.WATERMARK_KIND_MONOTONOUS, 0, null);
  }

  /**
   * Timestamps out of order by at most {@code maxOutOfOrderness} (Flink's
   * {@code forBoundedOutOfOrderness(Duration)}): the watermark of a split is its highest record
   * timestamp minus {@code maxOutOfOrderness} minus 1 ms. The delay is truncated to whole
   * milliseconds; zero behaves like {@link #forMonotonousTimestamps()}.
   *
   * @throws NullPointerException if {@code maxOutOfOrderness} is null
   * @throws IllegalArgumentException if it is negative (as in Flink)
   */
  public static <T> WatermarkStrategy<T> forBoundedOutOfOrderness(Duration maxOutOfOrderness) {
    Objects.requireNonNull(maxOutOfOrderness, "maxOutOfOrderness");
    if (maxOutOfOrderness.isNegative()) {
      throw new IllegalArgumentException("maxOutOfOrderness cannot be negative, got " + maxOutOfOrderness);
    }
    return new WatermarkStrategy<>(WatermarkKind.WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS,
        maxOutOfOrderness.toMillis(), null);
  }

  /**
   * This strategy plus idleness (Flink's {@code withIdleness(Duration)}): a split with no record for
   * longer than {@code idleTimeout} stops holding the reader's watermark back until its next record;
   * when every split of the reader is idle the reader reports {@link SourceEvent.IdleEvent}. Without
   * it (the default) splits never go idle, so an empty partition holds the watermark back for ever.
   *
   * @throws NullPointerException if {@code idleTimeout} is null
   * @throws IllegalArgumentException if it is shorter than 1 ms (ferry's resolution; Flink requires
   *     it to be positive)
   */
  public WatermarkStrategy<T> withIdleness(Duration idleTimeout) {
    Objects.requireNonNull(idleTimeout, "idleTimeout");
    if (idleTimeout.toMillis() < 1) {
      throw new IllegalArgumentException("idleTimeout must be at least 1 ms, got " + idleTimeout);
    }
    return new WatermarkStrategy<>(kind, maxOutOfOrdernessMs, idleTimeout.toMillis());
  }

  /** The wire form (the SourceSpec's watermark_strategy). */
  public final dev.ferry.v1.WatermarkStrategy toProto() {
    dev.ferry.v1.WatermarkStrategy.Builder b = dev.ferry.v1.WatermarkStrategy.newBuilder()
        .setKind(kind)
        .setMaxOutOfOrdernessMs(maxOutOfOrdernessMs);
    if (idleTimeoutMs != null) {
      b.setIdleTimeoutMs(idleTimeoutMs);
    }
    return b.build();
  }

  @Override
  public String toString() {
    return "WatermarkStrategy{" + toProto().toString().trim().replace('\n', ' ') + "}";
  }
}
