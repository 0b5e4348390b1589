package dev.ferry.client;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** Strings as bytes in a charset, UTF-8 by default (Flink's SimpleStringSchema); null stays null. */
public class SimpleStringSchema implements DeserializationSchema<String>, SerializationSchema<String> {
  private final Charset charset;

  public SimpleStringSchema() {
    this(StandardCharsets.UTF_8);
  }

  public SimpleStringSchema(Charset charset) {
    this.charset = Objects.requireNonNull(charset, "charset");
  }

  @Override
  public String deserialize(byte[] message) {
    return message == null ? null : new String(message, charset);
  }

  @Override
  public byte[] serialize(String element) {
    return element == null ? null : element.getBytes(charset);
  }
}
