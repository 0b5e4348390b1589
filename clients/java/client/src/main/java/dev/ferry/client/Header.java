package dev.ferry.client;

import java.util.Arrays;
import java.util.Objects;

/**
 * A record header as a {@link HeaderProvider} gives it: a key and a value, where a null value is a
 * null header value (which Kafka tells apart from an empty one).
 */
public final class Header {
  private final String key;
  private final byte[] value;

  /**
   * A header.
   *
   * @param key the key (not null)
   * @param value the value; null for a null header value
   */
  public Header(String key, byte[] value) {
    this.key = Objects.requireNonNull(key, "key");
    this.value = value == null ? null : value.clone();
  }

  /** @return the key */
  public String key() {
    return key;
  }

  /** @return a copy of the value, or null */
  public byte[] value() {
    return value == null ? null : value.clone();
  }

  dev.ferry.v1.Header toProto() {
    dev.ferry.v1.Header.Builder b = dev.ferry.v1.Header.newBuilder().setKey(key);
    if (value != null) {
      b.setValue(com.google.protobuf.ByteString.copyFrom(value));
    }
    return b.build();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Header h && key.equals(h.key) && Arrays.equals(value, h.value);
  }

  @Override
  public int hashCode() {
    return 31 * key.hashCode() + Arrays.hashCode(value);
  }

  @Override
  public String toString() {
    return "Header{" + key + "=" + (value == null ? "null" : value.length + " bytes") + "}";
  }
}
