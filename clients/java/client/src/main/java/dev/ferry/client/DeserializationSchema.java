package dev.ferry.client;

/** Turns the bytes of a record's value (null for a tombstone) into an element (Flink's). */
@FunctionalInterface
public interface DeserializationSchema<T> {
  T deserialize(byte[] message);
}
