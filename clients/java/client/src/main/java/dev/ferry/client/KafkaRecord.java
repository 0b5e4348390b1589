package dev.ferry.client;

import dev.ferry.v1.Header;
import dev.ferry.v1.TimestampType;
import java.util.List;

/**
 * A record read by a {@link SourceReader}: the deserialized value and its Kafka metadata.
 *
 * @param key the raw key, null for a null key
 * @param timestamp milliseconds since the Unix epoch
 */
public record KafkaRecord<T>(
    String topic,
    int partition,
    long offset,
    long timestamp,
    TimestampType timestampType,
    byte[] key,
    List<Header> headers,
    T value) {

  public TopicPartition topicPartition() {
    return new TopicPartition(topic, partition);
  }
}
