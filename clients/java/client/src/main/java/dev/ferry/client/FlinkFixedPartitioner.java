package dev.ferry.client;

/**
 * Flink's FlinkFixedPartitioner: every writer writes to one partition, {@code partitions[writer
 * index % partitions.length]}, so that each writer of a sink with at least as many partitions as
 * writers has its own. With ferry the server applies this rule (the sink's partitioner
 * {@code "fixed"}, with the index of {@link KafkaSink.Builder#setWriter}); {@link #partition} is
 * the same rule for code that calls it.
 *
 * @param <T> the element type
 */
public class FlinkFixedPartitioner<T> extends FlinkKafkaPartitioner<T> {
  private static final long serialVersionUID = 1L;

  private int parallelInstanceId;

  /** The partitioner. */
  public FlinkFixedPartitioner() {}

  @Override
  public void open(int parallelInstanceId, int parallelInstances) {
    if (parallelInstanceId < 0) {
      throw new IllegalArgumentException("Id of this subtask cannot be negative.");
    }
    if (parallelInstances <= 0) {
      throw new IllegalArgumentException("Number of subtasks must be larger than 0.");
    }
    this.parallelInstanceId = parallelInstanceId;
  }

  @Override
  public int partition(T record, byte[] key, byte[] value, String targetTopic, int[] partitions) {
    if (partitions == null || partitions.length == 0) {
      throw new IllegalArgumentException("Partitions of the target topic is empty.");
    }
    return partitions[parallelInstanceId % partitions.length];
  }

  @Override
  public boolean equals(Object o) {
    return this == o || o instanceof FlinkFixedPartitioner;
  }

  @Override
  public int hashCode() {
    return FlinkFixedPartitioner.class.hashCode();
  }
}
