package dev.ferry.client;

import java.lang.reflect.InvocationTargetException;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.Configurable;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The only class of the client that names Kafka's own classes (kafka-clients, an optional
 * dependency): Kafka's serializers, deserializers and headers where Flink code passes them. It is
 * loaded only by the methods that take them, so the client runs without kafka-clients.
 */
final class KafkaInterop {
  private KafkaInterop() {}

  /**
   * A Kafka {@link Deserializer} of the class, made with its no-argument constructor and configured
   * as Flink's KafkaValueOnlyDeserializerWrapper does (a {@link Configurable} with the
   * configuration, otherwise {@code configure(config, false)}), reading record values with
   * {@code deserialize(topic, value)}.
   */
  static <V> KafkaRecordDeserializationSchema<V> valueOnly(Class<?> deserializerClass, Map<String, String> config) {
    requireKafka(deserializerClass);
    Deserializer<?> d = configure(instantiate(deserializerClass, Deserializer.class), config, false);
    @SuppressWarnings("unchecked")
    Deserializer<V> typed = (Deserializer<V>) d;
    ValueOnlyDeserializer<V> vd = typed::deserialize;
    return vd;
  }

  /**
   * A Kafka {@link Serializer} of the class for keys ({@code isKey}) or values, configured as
   * Flink's KafkaSerializerWrapper does, called with each record's topic.
   */
  static <T> KafkaRecordSerializationSchemaBuilder.TopicSerializer<T> serializer(
      Class<?> serializerClass, Map<String, String> config, boolean isKey) {
    requireKafka(Objects.requireNonNull(serializerClass, "serializer class"));
    Serializer<?> s = configure(instantiate(serializerClass, Serializer.class), config, isKey);
    @SuppressWarnings("unchecked")
    Serializer<T> typed = (Serializer<T>) s;
    return typed::serialize;
  }

  /**
   * Configures a serializer or deserializer as Flink does: a {@link Configurable} with the
   * configuration, otherwise {@code configure(config, isKey)}.
   */
  private static <X> X configure(X serde, Map<String, String> config, boolean isKey) {
    if (serde instanceof Configurable c) {
      c.configure(config);
    } else if (serde instanceof Deserializer<?> d) {
      d.configure(config, isKey);
    } else {
      ((Serializer<?>) serde).configure(config, isKey);
    }
    return serde;
  }

  /** A ferry header from a Kafka {@code Header}, or null when {@code o} is none. */
  static Header header(Object o) {
    if (!(o instanceof org.apache.kafka.common.header.Header h)) {
      return null;
    }
    return new Header(h.key(), h.value());
  }

  /** Fails clearly, before any Kafka class is named, when kafka-clients is not there. */
  private static void requireKafka(Class<?> cls) {
    try {
      Class.forName("org.apache.kafka.common.serialization.Serializer", false, KafkaInterop.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException("Kafka's (de)serializer classes need org.apache.kafka:kafka-clients on the"
          + " classpath (an optional dependency of ferry-client), for " + cls.getName(), e);
    }
  }

  private static <X> X instantiate(Class<?> cls, Class<X> kind) {
    if (!kind.isAssignableFrom(cls)) {
      throw new IllegalArgumentException(cls.getName() + " is not a " + kind.getName());
    }
    try {
      return kind.cast(cls.getDeclaredConstructor().newInstance());
    } catch (InvocationTargetException e) {
      throw new IllegalArgumentException("cannot create " + cls.getName() + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalArgumentException("cannot create " + cls.getName()
          + " (it needs a public no-argument constructor): " + e, e);
    }
  }
}
