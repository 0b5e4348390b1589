package dev.ferry.client;

import com.google.protobuf.ByteString;
import dev.ferry.v1.SinkRecord;
import java.util.Objects;

/** Turns an element into a record to write (Flink's KafkaRecordSerializationSchema). */
@FunctionalInterface
public interface KafkaRecordSerializationSchema<T> {
  SinkRecord serialize(T element);

  static <T> Builder<T> builder() {
    return new Builder<>();
  }

  /** Flink's KafkaRecordSerializationSchemaBuilder: a topic, a value and optionally a key schema. */
  final class Builder<T> {
    private String topic;
    private java.util.function.Function<? super T, String> topicSelector;
    private SerializationSchema<? super T> valueSchema;
    private SerializationSchema<? super T> keySchema;

    private Builder() {}

    public Builder<T> setTopic(String topic) {
      this.topic = Objects.requireNonNull(topic, "topic");
      return this;
    }

    /** Picks the topic of each element (Flink's setTopicSelector); instead of setTopic. */
    public Builder<T> setTopicSelector(java.util.function.Function<? super T, String> selector) {
      this.topicSelector = Objects.requireNonNull(selector, "selector");
      return this;
    }

    public Builder<T> setValueSerializationSchema(SerializationSchema<? super T> schema) {
      this.valueSchema = Objects.requireNonNull(schema, "schema");
      return this;
    }

    public Builder<T> setKeySerializationSchema(SerializationSchema<? super T> schema) {
      this.keySchema = Objects.requireNonNull(schema, "schema");
      return this;
    }

    public KafkaRecordSerializationSchema<T> build() {
      if ((topic == null || topic.isEmpty()) == (topicSelector == null)) {
        throw new IllegalStateException("set exactly one of setTopic and setTopicSelector");
      }
      if (valueSchema == null) {
        throw new IllegalStateException("no value schema: call setValueSerializationSchema");
      }
      String fixed = topic;
      java.util.function.Function<? super T, String> selector = topicSelector;
      SerializationSchema<? super T> v = valueSchema;
      SerializationSchema<? super T> k = keySchema;
      return element -> {
        SinkRecord.Builder b = SinkRecord.newBuilder()
            .setTopic(selector != null ? selector.apply(element) : fixed);
        byte[] value = v.serialize(element);
        if (value != null) {
          b.setValue(ByteString.copyFrom(value));
        }
        if (k != null) {
          byte[] key = k.serialize(element);
          if (key != null) {
            b.setKey(ByteString.copyFrom(key));
          }
        }
        return b.build();
      };
    }
  }
}
