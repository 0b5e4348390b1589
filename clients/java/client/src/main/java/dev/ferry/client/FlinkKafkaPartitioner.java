package dev.ferry.client;

/**
 * Flink's FlinkKafkaPartitioner, the base class of {@link FlinkFixedPartitioner}.
 *
 * @param <T> the element type
 */
public abstract class FlinkKafkaPartitioner<T> implements KafkaPartitioner<T> {
  private static final long serialVersionUID = 1L;

  /** For subclasses. */
  protected FlinkKafkaPartitioner() {}
}
