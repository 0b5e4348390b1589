package dev.ferry.client;

/** Turns an element into bytes (Flink's SerializationSchema); null writes a null key or value. */
@FunctionalInterface
public interface SerializationSchema<T> {
  byte[] serialize(T element);
}
