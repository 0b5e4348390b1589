package dev.ferry.client;

import java.util.Objects;

/** One partition of a topic (Kafka's TopicPartition). */
public record TopicPartition(String topic, int partition) {
  public TopicPartition {
    Objects.requireNonNull(topic, "topic");
  }

  dev.ferry.v1.TopicPartition toProto() {
    return dev.ferry.v1.TopicPartition.newBuilder().setTopic(topic).setPartition(partition).build();
  }

  @Override
  public String toString() {
    return topic + "-" + partition;
  }
}
