package dev.ferry.client;

import dev.ferry.v1.Record;
import java.util.Objects;

/** Turns a whole Kafka record (as ferry sends it) into an element (Flink's interface). */
@FunctionalInterface
public interface KafkaRecordDeserializationSchema<T> {
  T deserialize(Record record);

  /** Deserializes only the record's value (null for a tombstone). */
  static <T> KafkaRecordDeserializationSchema<T> valueOnly(DeserializationSchema<T> schema) {
    Objects.requireNonNull(schema, "schema");
    return r -> schema.deserialize(r.hasValue() ? r.getValue().toByteArray() : null);
  }
}
