package dev.ferry.client;

import dev.ferry.v1.Record;
import java.util.Map;
import java.util.Objects;

/**
 * Turns a whole Kafka record (as ferry sends it) into an element (Flink's interface).
 *
 * @param <T> the element type
 */
@FunctionalInterface
public interface KafkaRecordDeserializationSchema<T> {
  /**
   * The element of a record.
   *
   * @param record the record as ferry sent it
   * @return the element
   */
  T deserialize(Record record);

  /**
   * Deserializes only the record's value (null for a tombstone) with a {@link DeserializationSchema}.
   *
   * @param <T> the element type
   * @param schema the schema
   * @return the record deserializer
   */
  static <T> KafkaRecordDeserializationSchema<T> valueOnly(DeserializationSchema<T> schema) {
    Objects.requireNonNull(schema, "schema");
    ValueOnlyDeserializer<T> d = (topic, value) -> schema.deserialize(value);
    return d;
  }

  /**
   * Deserializes only the record's value with Kafka's {@code Deserializer} of this class, as in
   * Flink's {@code valueOnly(StringDeserializer.class)}: made with its public no-argument
   * constructor, configured with {@code configure(Map.of(), false)}, and called with the record's
   * topic and value (null for a tombstone). Needs kafka-clients on the classpath (an optional
   * dependency of ferry-client).
   *
   * <p>The parameter is a plain {@code Class<?>} (Flink's is {@code Class<? extends
   * Deserializer<V>>}) so that code without kafka-clients compiles against the other
   * {@code valueOnly}; {@code V} is therefore taken from where the result goes, as in
   * {@code KafkaSource.<String>builder().setDeserializer(valueOnly(StringDeserializer.class))},
   * not checked against the deserializer's type.
   *
   * @param <V> the element type
   * @param valueDeserializerClass a class implementing {@code org.apache.kafka.common.serialization.Deserializer}
   * @return the record deserializer
   * @throws IllegalArgumentException for a class that is no Kafka deserializer or cannot be made
   */
  static <V> KafkaRecordDeserializationSchema<V> valueOnly(Class<?> valueDeserializerClass) {
    return valueOnly(valueDeserializerClass, Map.of());
  }

  /**
   * As {@link #valueOnly(Class)}, configured with {@code config}: {@code configure(config)} for a
   * Kafka {@code Configurable}, else {@code configure(config, false)}.
   *
   * @param <V> the element type
   * @param valueDeserializerClass the deserializer class
   * @param config its configuration
   * @return the record deserializer
   */
  static <V> KafkaRecordDeserializationSchema<V> valueOnly(Class<?> valueDeserializerClass, Map<String, String> config) {
    Objects.requireNonNull(valueDeserializerClass, "valueDeserializerClass");
    return KafkaInterop.valueOnly(valueDeserializerClass, Map.copyOf(config));
  }
}
