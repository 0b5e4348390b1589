package dev.ferry.flinkdoc;

import dev.ferry.client.KafkaRecord;
import dev.ferry.client.KafkaRecordSerializationSchema;
import dev.ferry.client.KafkaSink;
import dev.ferry.client.KafkaSource;
import dev.ferry.client.OffsetsInitializer;
import dev.ferry.client.SimpleStringSchema;
import dev.ferry.client.SinkWriter;
import dev.ferry.client.SourceReader;
import dev.ferry.v1.SinkRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Runs the snippets of Flink's document that {@code FlinkDocSnippetsTest} generated into a program,
 * in a JVM whose only ferry setting is the environment variable FERRY_ADDRESS (test code, not part of
 * ferry-client). For each snippet it prints one line {@code RESULT <id> ok|FAILED <what ran>}, which
 * the test reads, and the {@code NOTE} lines of the stand-ins.
 *
 * <p>What runs: every snippet's statements, as written (with the document's two placeholders
 * filled in by the test). A snippet whose last statement is a builder expression has its value
 * looked at here, and the test reports how:
 *
 * <ul>
 *   <li>a {@code KafkaSource} builder is completed with what the snippet leaves out and a program
 *       adds before {@code build()} (a subscription to {@link #INPUT_TOPIC} when it has none, a
 *       {@code SimpleStringSchema} when it has no deserializer), bounded at the latest offsets,
 *       built, opened against ferry and read to its end: "opened";
 *   <li>one whose properties name Kafka security (the document's placeholder users, passwords and
 *       files) is built but not opened: "built";
 *   <li>a {@code KafkaRecordSerializationSchema} serializes an element and a sink with it writes
 *       that element through ferry: "written".
 * </ul>
 */
public final class DocRun {
  /** The topic the document reads ("input-topic"), which the test fills. */
  public static final String INPUT_TOPIC = "input-topic";

  private final List<String> failed = new ArrayList<>();
  private int ran;

  /** Prints a note of a stand-in. */
  static void note(String text) {
    System.out.println("NOTE " + text);
  }

  /** Runs one snippet and prints its RESULT line. */
  public void snippet(String id, Callable<Object> body) {
    ran++;
    try {
      Object value = body.call();
      System.out.println("RESULT " + id + " ok " + inspect(value));
    } catch (Throwable t) {
      failed.add(id);
      System.out.println("RESULT " + id + " FAILED " + t);
      t.printStackTrace(System.out);
    }
  }

  /** The exit status: 0 when every snippet ran. */
  public int finish() {
    System.out.println("DONE ran=" + ran + " failed=" + failed);
    return failed.isEmpty() ? 0 : 1;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static String inspect(Object value) {
    if (value == null) {
      return "ran";
    }
    if (value instanceof KafkaSource.Builder b) {
      return openSource(b);
    }
    if (value instanceof KafkaRecordSerializationSchema schema) {
      SinkRecord record = schema.serialize("ferry-doc-element");
      KafkaSink sink = KafkaSink.builder().setRecordSerializer(schema).build();
      long written;
      try (SinkWriter w = sink.open()) {
        w.write("ferry-doc-element");
        w.close();
        written = w.recordsWritten();
      }
      if (written != 1) {
        throw new AssertionError("a sink with the schema wrote " + written + " records, not 1");
      }
      return "written: serialize(\"ferry-doc-element\") gave topic " + record.getTopic()
          + ", key " + record.getKey().toStringUtf8() + ", value " + record.getValue().toStringUtf8()
          + "; a sink with it (partitioner " + sink.getSpec().getPartitioner() + ") wrote it through ferry";
    }
    return "ran, gave " + value.getClass().getName();
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static String openSource(KafkaSource.Builder b) {
    List<String> added = new ArrayList<>();
    try {
      b.setTopics(INPUT_TOPIC);
      added.add("setTopics(\"" + INPUT_TOPIC + "\")");
    } catch (IllegalStateException subscribed) {
      // the snippet's own subscription stays
    }
    b.setBounded(OffsetsInitializer.latest());
    added.add("setBounded(latest)");
    KafkaSource source;
    try {
      source = b.build();
    } catch (NullPointerException e) {
      if (!String.valueOf(e.getMessage()).startsWith("Deserialization schema is required")) {
        throw e;
      }
      b.setValueOnlyDeserializer(new SimpleStringSchema());
      added.add("setValueOnlyDeserializer(new SimpleStringSchema())");
      source = b.build();
    }
    if (source.getSpec().getPropertiesMap().containsKey("security.protocol")) {
      return "built (completed with " + String.join(", ", added) + "); not opened: its security"
          + " properties are the document's placeholders (users, passwords, files)";
    }
    int n = 0;
    String first = null;
    try (SourceReader reader = source.open()) {
      for (Object o : reader) {
        KafkaRecord r = (KafkaRecord) o;
        if (first == null) {
          first = String.valueOf(r.value());
        }
        n++;
      }
    }
    return "opened (completed with " + String.join(", ", added) + "): spec " + subscription(source)
        + ", read " + n + " records" + (first != null ? ", the first value " + first : "");
  }

  @SuppressWarnings("rawtypes")
  private static String subscription(KafkaSource source) {
    var spec = source.getSpec();
    if (spec.hasTopics()) {
      return "topics " + spec.getTopics().getTopicsList();
    }
    if (!spec.getTopicPattern().isEmpty()) {
      return "topic pattern " + spec.getTopicPattern();
    }
    return "partitions " + spec.getPartitions().getPartitionsList().stream()
        .map(p -> p.getTopic() + "-" + p.getPartition()).toList();
  }
}
