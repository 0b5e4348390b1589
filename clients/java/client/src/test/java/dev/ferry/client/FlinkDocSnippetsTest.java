package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Every Java snippet of Flink's Kafka connector document ({@code clients/flink-docs}) compiles
 * against ferry's facade with only Flink's imports changed, and runs against the ferry under test.
 *
 * <p>The test takes the snippets out of the document (every fenced block; a block in a language
 * other than Java or Python fails the test, so none is skipped unseen) and writes one program,
 * {@code target/flink-doc/src/dev/ferry/flinkdoc/DocSnippets.java}: Flink's imports ported to
 * ferry's ({@link #FLINK_IMPORTS}), the snippets' own imports (Kafka's StringDeserializer), and one
 * method per snippet holding its lines as written, but for the document's two placeholders
 * ({@link #PLACEHOLDERS}). What the snippets take as given is declared once: {@code brokers} (the
 * broker under test, which ferry is allowed to name), {@code env} (a stand-in for Flink's
 * StreamExecutionEnvironment: {@link dev.ferry.flinkdoc.StreamExecutionEnvironment}, which runs a
 * source at once, and {@link dev.ferry.flinkdoc.DataStream}, whose {@code sinkTo} writes), and for
 * the watermark snippet {@code kafkaSource} and {@code CustomWatermarkStrategy}. The program is
 * compiled with javac and run in its own JVM whose environment names the ferry once, by
 * FERRY_ADDRESS; no snippet names a ferry. {@link dev.ferry.flinkdoc.DocRun} says per snippet what
 * ran (the value of a snippet that ends in a builder is opened, written or built, as it says), and
 * this test prints that table.
 */
class FlinkDocSnippetsTest {
  /** Flink's imports of a program with these snippets, and ferry's that replace them. */
  static final Map<String, String> FLINK_IMPORTS = new LinkedHashMap<>();

  static {
    String client = "dev.ferry.client.";
    FLINK_IMPORTS.put("org.apache.flink.connector.kafka.source.KafkaSource", client + "KafkaSource");
    FLINK_IMPORTS.put("org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer",
        client + "OffsetsInitializer");
    FLINK_IMPORTS.put("org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema",
        client + "KafkaRecordDeserializationSchema");
    FLINK_IMPORTS.put("org.apache.kafka.clients.consumer.OffsetResetStrategy", client + "OffsetResetStrategy");
    FLINK_IMPORTS.put("org.apache.kafka.common.TopicPartition", client + "TopicPartition");
    FLINK_IMPORTS.put("org.apache.flink.api.common.serialization.SimpleStringSchema", client + "SimpleStringSchema");
    FLINK_IMPORTS.put("org.apache.flink.api.common.eventtime.WatermarkStrategy", client + "WatermarkStrategy");
    FLINK_IMPORTS.put("org.apache.flink.connector.kafka.sink.KafkaSink", client + "KafkaSink");
    FLINK_IMPORTS.put("org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema",
        client + "KafkaRecordSerializationSchema");
    FLINK_IMPORTS.put("org.apache.flink.connector.base.DeliveryGuarantee", client + "DeliveryGuarantee");
    FLINK_IMPORTS.put("org.apache.flink.streaming.connectors.kafka.partitioner.FlinkFixedPartitioner",
        client + "FlinkFixedPartitioner");
    // Flink's runtime, which ferry does not have: the test's stand-ins.
    FLINK_IMPORTS.put("org.apache.flink.streaming.api.environment.StreamExecutionEnvironment",
        "dev.ferry.flinkdoc.StreamExecutionEnvironment");
    FLINK_IMPORTS.put("org.apache.flink.streaming.api.datastream.DataStream", "dev.ferry.flinkdoc.DataStream");
    FLINK_IMPORTS.put("java.util.Arrays", "java.util.Arrays");
    FLINK_IMPORTS.put("java.util.HashSet", "java.util.HashSet");
  }

  /** The document's placeholders, and what the test writes instead. */
  static final Map<String, String> PLACEHOLDERS = Map.of(
      "<your-topic-selection-logic>", "return \"topic-name\";",
      "= ...;", "= env.fromElements(\"ferry-doc-1\", \"ferry-doc-2\", \"ferry-doc-3\");");

  /** Topics the snippets name, with the partitions they need (topic-b has a partition 5). */
  static final Map<String, Integer> TOPICS = Map.of(
      "input-topic", 3, "topic-a", 1, "topic-b", 6, "topic-name", 3);

  // A fence: backticks, and an info string (the language) without backticks (CommonMark).
  private static final Pattern FENCE = Pattern.compile("^(\\s*)```\\s*([^`\\s]*)\\s*$");
  private static final Pattern CLOSE = Pattern.compile("^\\s*```\\s*$");
  private static final Set<String> BUILDER_STARTS = Set.of("KafkaSource.", "KafkaSink.", "KafkaRecordSerializationSchema.");

  /** A fenced block of the document. */
  record Snippet(String language, int line, String heading, String code) {}

  /** Where the document is: FERRY_FLINK_DOC, else clients/flink-docs. */
  static Path document() {
    String env = System.getenv("FERRY_FLINK_DOC");
    Path p = env != null && !env.isBlank() ? Path.of(env)
        : Path.of(System.getProperty("user.dir"), "..", "..", "flink-docs", "flink-kafka-connector.zh.md").normalize();
    if (!Files.isRegularFile(p)) {
      fail("Flink's Kafka connector document is not at " + p + " (set FERRY_FLINK_DOC)");
    }
    return p;
  }

  /** Every fenced block of the markdown text, dedented by its fence's indentation. */
  static List<Snippet> fencedBlocks(List<String> lines) {
    List<Snippet> out = new ArrayList<>();
    String heading = "";
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      if (line.startsWith("#")) {
        heading = line.replaceFirst("^#+\\s*", "");
        continue;
      }
      Matcher open = FENCE.matcher(line);
      if (!open.matches()) {
        continue;
      }
      int indent = open.group(1).length();
      StringBuilder code = new StringBuilder();
      int start = i + 1;
      for (i++; i < lines.size() && !CLOSE.matcher(lines.get(i)).matches(); i++) {
        String l = lines.get(i);
        int cut = Math.min(indent, l.length() - l.stripLeading().length());
        code.append(l.substring(cut)).append('\n');
      }
      if (i == lines.size()) {
        fail("the fence at line " + start + " is never closed");
      }
      out.add(new Snippet(open.group(2).toLowerCase(), start, heading, code.toString()));
    }
    return out;
  }

  /** The document's snippets in {@code language}; fails on blocks in languages no test runs. */
  static List<Snippet> snippets(String language) throws IOException {
    List<Snippet> blocks = fencedBlocks(Files.readAllLines(document(), StandardCharsets.UTF_8));
    List<Snippet> unrun = blocks.stream().filter(b -> !Set.of("java", "python").contains(b.language())).toList();
    assertTrue(unrun.isEmpty(), "blocks no test runs: " + unrun);
    return blocks.stream().filter(b -> b.language().equals(language)).toList();
  }

  /**
   * The positions just after each semicolon of {@code code} that ends a statement at the top level
   * (not in a string, a comment, parentheses or a lambda's braces).
   */
  static List<Integer> statementEnds(String code) {
    List<Integer> ends = new ArrayList<>();
    int depth = 0;
    for (int i = 0; i < code.length(); i++) {
      char c = code.charAt(i);
      if (c == '"' || c == '\'') {
        for (i++; i < code.length() && code.charAt(i) != c; i++) {
          if (code.charAt(i) == '\\') {
            i++;
          }
        }
      } else if (code.startsWith("//", i)) {
        i = code.indexOf('\n', i);
        if (i < 0) {
          break;
        }
      } else if (code.startsWith("/*", i)) {
        i = code.indexOf("*/", i) + 1;
      } else if (c == '(' || c == '{' || c == '[') {
        depth++;
      } else if (c == ')' || c == '}' || c == ']') {
        depth--;
      } else if (c == ';' && depth == 0) {
        ends.add(i + 1);
      }
    }
    return ends;
  }

  /** The body of a snippet's method: its lines, returning the value of a final builder expression. */
  static String methodBody(String code) {
    List<Integer> ends = statementEnds(code);
    int lastStart = ends.size() >= 2 ? ends.get(ends.size() - 2) : 0;
    String last = code.substring(lastStart);
    String lead = last.replaceAll("(?s)^(\\s|//[^\n]*\n)*", "");
    if (BUILDER_STARTS.stream().anyMatch(lead::startsWith)) {
      int at = lastStart + (last.length() - lead.length());
      return code.substring(0, at) + "return " + code.substring(at);
    }
    return code + "return null;\n";
  }

  /** The program of all Java snippets. */
  static String program(List<Snippet> snippets, Path doc) {
    List<String> ownImports = new ArrayList<>();
    StringBuilder methods = new StringBuilder();
    StringBuilder calls = new StringBuilder();
    for (int n = 0; n < snippets.size(); n++) {
      Snippet s = snippets.get(n);
      String code = s.code();
      for (Map.Entry<String, String> p : PLACEHOLDERS.entrySet()) {
        code = code.replace(p.getKey(), p.getValue());
      }
      StringBuilder body = new StringBuilder();
      for (String line : code.split("\n", -1)) {
        if (line.startsWith("import ")) {
          ownImports.add(line.trim());
        } else {
          body.append(line).append('\n');
        }
      }
      String id = String.format("java-%02d", n + 1);
      methods.append("\n  // ").append(id).append(": \"").append(s.heading()).append("\", line ").append(s.line())
          .append(" of the document\n  static Object snippet").append(n + 1).append("() throws Exception {\n")
          .append(indent(methodBody(body.toString()).strip(), "    ")).append("\n  }\n");
      calls.append("    run.snippet(\"").append(id).append("\", DocSnippets::snippet").append(n + 1).append(");\n");
    }
    StringBuilder out = new StringBuilder();
    out.append("// Generated by FlinkDocSnippetsTest from ").append(doc.getFileName())
        .append(": every Java snippet of Flink's Kafka connector document, one method each.\n")
        .append("package dev.ferry.flinkdoc;\n\n")
        .append("// Flink's imports, ported: the only lines that differ from a Flink program.\n");
    FLINK_IMPORTS.forEach((flink, ferry) -> out.append("import ").append(ferry).append(";")
        .append(flink.equals(ferry) ? "" : "  // was " + flink).append('\n'));
    out.append("// The snippets' own imports, as written.\n");
    ownImports.stream().distinct().forEach(i -> out.append(i).append('\n'));
    out.append("\npublic final class DocSnippets {\n")
        .append("  // What the snippets take as given. The broker under test (ferry may name it):\n")
        .append("  static final String brokers = System.getProperty(\"flinkdoc.brokers\");\n")
        .append("  // Flink's environment: the test's stand-in, which runs a source at once.\n")
        .append("  static final StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();\n")
        .append("  // The watermark snippet's source and strategy (a strategy of your own names one of the server's).\n")
        .append("  static final KafkaSource<String> kafkaSource = KafkaSource.<String>builder()\n")
        .append("      .setTopics(DocRun.INPUT_TOPIC).setValueOnlyDeserializer(new SimpleStringSchema()).build();\n\n")
        .append("  static final class CustomWatermarkStrategy extends WatermarkStrategy<String> {\n")
        .append("    CustomWatermarkStrategy() {\n")
        .append("      super(WatermarkStrategy.forBoundedOutOfOrderness(java.time.Duration.ofSeconds(5)));\n")
        .append("    }\n  }\n")
        .append(methods)
        .append("\n  public static void main(String[] args) {\n    DocRun run = new DocRun();\n")
        .append(calls)
        .append("    System.exit(run.finish());\n  }\n}\n");
    return out.toString();
  }

  private static String indent(String text, String prefix) {
    return text.lines().map(l -> l.isEmpty() ? l : prefix + l).collect(Collectors.joining("\n"));
  }

  /** Creates the document's topics unless they exist. */
  static void createTopics(Admin admin) throws Exception {
    for (Map.Entry<String, Integer> t : TOPICS.entrySet()) {
      try {
        admin.createTopics(List.of(new NewTopic(t.getKey(), t.getValue(), (short) 1)))
            .all().get(TestEnv.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw e;
        }
      }
    }
    for (Map.Entry<String, Integer> t : TOPICS.entrySet()) {
      long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
      while (true) {
        try {
          var d = admin.describeTopics(List.of(t.getKey())).allTopicNames()
              .get(TestEnv.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(t.getKey());
          assertTrue(d.partitions().size() >= t.getValue(), t.getKey() + " has " + d.partitions().size()
              + " partitions, the document needs " + t.getValue());
          if (d.partitions().stream().allMatch(p -> p.leader() != null)) {
            break;
          }
        } catch (ExecutionException e) {
          // not in the metadata yet
        }
        if (System.nanoTime() > deadline) {
          fail("topic " + t.getKey() + " has no leaders after " + TestEnv.TIMEOUT);
        }
        Thread.sleep(100);
      }
    }
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void everyJavaSnippetCompilesAndRuns() throws Exception {
    Path doc = document();
    List<Snippet> snippets = snippets("java");
    assertTrue(snippets.size() >= 12, "expected the document's 12 Java snippets, found " + snippets.size());

    // Generate and compile the program.
    Path root = Path.of(System.getProperty("user.dir"), "target", "flink-doc");
    Path src = root.resolve("src/dev/ferry/flinkdoc/DocSnippets.java");
    Path classes = root.resolve("classes");
    Files.createDirectories(src.getParent());
    Files.createDirectories(classes);
    Files.writeString(src, program(snippets, doc), StandardCharsets.UTF_8);
    String classpath = System.getProperty("java.class.path");
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    java.io.ByteArrayOutputStream diagnostics = new java.io.ByteArrayOutputStream();
    int rc = javac.run(null, diagnostics, diagnostics, "-encoding", "UTF-8", "-proc:none", "-Xlint:-options",
        "-cp", classpath, "-d", classes.toString(), src.toString());
    assertEquals(0, rc, "the document's Java snippets do not compile against ferry-client (" + src + "):\n"
        + diagnostics.toString(StandardCharsets.UTF_8));

    // The topics the snippets name, and records for the sources to read.
    String bootstrap = TestEnv.kafkaBootstrap();
    try (Admin admin = TestEnv.admin(bootstrap)) {
      createTopics(admin);
    }
    List<String> input = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      input.add("ferry-doc-input-" + i);
    }
    KafkaSink<String> fill = KafkaSink.<String>builder()
        .setFerryAddress(TestEnv.ferryAddr())
        .setRecordSerializer(KafkaRecordSerializationSchema.builder()
            .setTopic("input-topic").setValueSerializationSchema(new SimpleStringSchema()).build())
        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build();
    try (SinkWriter<String> w = fill.open()) {
      input.forEach(w::write);
    }

    // Run it in a JVM that knows the ferry only by FERRY_ADDRESS.
    Path log = root.resolve("run.log");
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", classes + java.io.File.pathSeparator + classpath,
        "-Dflinkdoc.brokers=" + bootstrap,
        "dev.ferry.flinkdoc.DocSnippets")
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("FERRY_ADDRESS", TestEnv.ferryAddr());
    Process p = pb.start();
    if (!p.waitFor(180, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("the snippets did not finish within 180 s; output in " + log);
    }
    List<String> out = Files.readAllLines(log, StandardCharsets.UTF_8);
    System.out.println("Flink document, Java snippets (" + snippets.size() + "), as run against ferry:");
    out.stream().filter(l -> l.startsWith("RESULT") || l.startsWith("NOTE") || l.startsWith("DONE"))
        .forEach(l -> System.out.println("  " + l));
    assertEquals(0, p.exitValue(), "a snippet failed:\n" + String.join("\n", out));

    List<String> results = out.stream().filter(l -> l.startsWith("RESULT ")).toList();
    assertEquals(snippets.size(), results.size(), "one RESULT per snippet:\n" + String.join("\n", out));
    for (String r : results) {
      assertTrue(r.matches("RESULT java-\\d\\d ok .*"), r);
    }
    // The stand-ins' work: the usage snippet read the input, the sink snippet wrote its stream.
    assertTrue(out.stream().anyMatch(l -> l.matches("NOTE env\\.fromSource\\(\"Kafka Source\", .*\\): read (\\d{2,}) records")),
        "the usage snippet's source read the input:\n" + String.join("\n", out));
    assertTrue(out.contains("NOTE stream.sinkTo(sink): 3 elements, Kafka acknowledged 3"),
        "the sink snippet wrote its 3 elements:\n" + String.join("\n", out));
  }
}
