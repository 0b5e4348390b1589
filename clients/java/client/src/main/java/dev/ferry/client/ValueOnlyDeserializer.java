package dev.ferry.client;

import dev.ferry.v1.Record;

/**
 * A {@link KafkaRecordDeserializationSchema} that reads only a record's value (and topic): what
 * {@link KafkaRecordDeserializationSchema#valueOnly} returns. A {@link SourceReader} calls
 * {@link #deserializeValue} with the value's bytes as they came off the wire, without copying them
 * out of the message first, since no one else reads them; {@link #deserialize} copies them, since
 * the record passed to it is the caller's.
 *
 * @param <T> the element type
 */
@FunctionalInterface
interface ValueOnlyDeserializer<T> extends KafkaRecordDeserializationSchema<T> {
  /**
   * The element of a record value.
   *
   * @param topic the record's topic
   * @param value the value's bytes, null for a tombstone; the callee's to keep (nothing else reads
   *     or changes them)
   * @return the element
   */
  T deserializeValue(String topic, byte[] value);

  @Override
  default T deserialize(Record record) {
    return deserializeValue(record.getTopic(), record.hasValue() ? record.getValue().toByteArray() : null);
  }
}
