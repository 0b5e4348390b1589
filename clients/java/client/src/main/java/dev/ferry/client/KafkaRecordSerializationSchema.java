package dev.ferry.client;

import dev.ferry.v1.SinkRecord;

/**
 * Turns an element into a record to write (Flink's KafkaRecordSerializationSchema). Build one with
 * {@link #builder()}, as in Flink:
 *
 * <pre>{@code
 * KafkaRecordSerializationSchema.builder()
 *     .setTopic("topic-name")
 *     .setValueSerializationSchema(new SimpleStringSchema())
 *     .build();
 * }</pre>
 *
 * @param <T> the element type
 */
@FunctionalInterface
public interface KafkaRecordSerializationSchema<T> {
  /**
   * The record of {@code element}.
   *
   * @param element the element
   * @return the record; an empty topic means the sink's default topic
   */
  SinkRecord serialize(T element);

  /**
   * Flink's builder: a topic (or a topic selector), a value serializer, and optionally a key
   * serializer, a partitioner and a header provider. Its setters re-type it to the element type of
   * the serializer they are given, as Flink's do, so {@code builder()} needs no type argument.
   *
   * @param <T> the element type
   * @return a new builder
   */
  static <T> KafkaRecordSerializationSchemaBuilder<T> builder() {
    return new KafkaRecordSerializationSchemaBuilder<>();
  }
}
