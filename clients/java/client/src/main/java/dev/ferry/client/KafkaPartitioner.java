package dev.ferry.client;

import java.io.Serializable;

/**
 * Flink's KafkaPartitioner: picks the partition of a record. ferry places records in the server,
 * which knows the partitions, so of these only {@link FlinkFixedPartitioner} is taken (the server
 * applies the same rule); see {@link KafkaRecordSerializationSchemaBuilder#setPartitioner}. For the
 * other placements use {@link KafkaSink.Builder#setPartitioner(String)}.
 *
 * @param <T> the element type
 */
public interface KafkaPartitioner<T> extends Serializable {
  /**
   * Called once before the first record, with the writer's index and the number of writers.
   *
   * @param parallelInstanceId the writer's index
   * @param parallelInstances the number of writers
   */
  default void open(int parallelInstanceId, int parallelInstances) {}

  /**
   * The partition of a record.
   *
   * @param record the element
   * @param key its serialized key (may be null)
   * @param value its serialized value (may be null)
   * @param targetTopic its topic
   * @param partitions the partitions of the topic
   * @return one of {@code partitions}
   */
  int partition(T record, byte[] key, byte[] value, String targetTopic, int[] partitions);
}
