package dev.ferry.client;

import java.io.Serializable;

/**
 * The headers of the record an element becomes (Flink's HeaderProvider), for
 * {@link KafkaRecordSerializationSchemaBuilder#setHeaderProvider}. Flink's returns Kafka's
 * {@code Headers}; here any {@link Iterable} of headers will do, in the order they are written:
 * ferry's {@link Header}s, or Kafka's own ({@code org.apache.kafka.common.header.Header}, so a
 * Flink provider returning {@code new RecordHeaders()...} compiles and runs unchanged when
 * kafka-clients is on the classpath). Null means no headers.
 *
 * @param <IN> the element type
 */
@FunctionalInterface
public interface HeaderProvider<IN> extends Serializable {
  /**
   * The headers of the record of {@code input}.
   *
   * @param input the element
   * @return its headers, or null for none
   */
  Iterable<?> getHeaders(IN input);
}
