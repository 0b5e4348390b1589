package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the example programs (dev.ferry.examples) as separate JVMs, kills them with SIGKILL while
 * they copy, restarts them, and checks that the output holds exactly the transformed input, each
 * record once, under read_committed.
 */
class ExamplesTest {
  private static final int RECORDS = 3000;
  private static final int PARTITIONS = 3;
  /** The input is produced over about this long, so that the kills land mid-stream. */
  private static final long PRODUCE_MILLIS = 7000;
  private static final String IDLE_EXIT_SECONDS = "3";

  private static String ferry;
  private static String bootstrap;
  private static Admin admin;

  @TempDir
  Path tmp;

  @BeforeAll
  static void setUp() {
    ferry = TestEnv.ferryAddr();
    bootstrap = TestEnv.kafkaBootstrap();
    admin = TestEnv.admin(bootstrap);
  }

  @AfterAll
  static void tearDown() {
    if (admin != null) {
      admin.close();
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void exactlyOnceCopySurvivesKills() throws Exception {
    String in = TestEnv.createTopic(admin, "ex1-in", PARTITIONS);
    String out = TestEnv.createTopic(admin, "ex1-out", PARTITIONS);
    Path state = tmp.resolve("copy.state");
    List<String> args = List.of(ferry, in, out, state.toString(),
        "ferry-java-ex1-" + UUID.randomUUID(), IDLE_EXIT_SECONDS);
    runWithKills("dev.ferry.examples.ExactlyOnceCopy", args, in, out, 3);
    assertTrue(Files.exists(state), "the example wrote no state file");
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void offsetsInTransactionSurvivesKills() throws Exception {
    String in = TestEnv.createTopic(admin, "ex2-in", PARTITIONS);
    String out = TestEnv.createTopic(admin, "ex2-out", PARTITIONS);
    String group = "ferry-java-ex2-" + UUID.randomUUID();
    List<String> args = List.of(ferry, in, out, group,
        "ferry-java-ex2-" + UUID.randomUUID(), IDLE_EXIT_SECONDS);
    runWithKills("dev.ferry.examples.OffsetsInTransaction", args, in, out, 2);
    // The consumed offsets were committed to the group inside the transactions.
    Map<org.apache.kafka.common.TopicPartition, org.apache.kafka.clients.consumer.OffsetAndMetadata>
        committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
            .get(TestEnv.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    long sum = committed.values().stream().mapToLong(o -> o.offset()).sum();
    assertEquals(RECORDS, sum, "group offsets " + committed);
  }

  /**
   * Produces the input in the background, runs {@code mainClass}, kills it {@code kills} times
   * once the committed output grew, restarts it, lets the last run exit by itself, then checks the
   * output.
   */
  private void runWithKills(String mainClass, List<String> args, String in, String out, int kills)
      throws Exception {
    List<String> expected = new ArrayList<>();
    AtomicReference<Throwable> produceError = new AtomicReference<>();
    AtomicInteger killsDone = new AtomicInteger();
    Thread producer = new Thread(() -> {
      try {
        produce(in, kills, killsDone);
      } catch (Throwable t) {
        produceError.set(t);
      }
    }, "input-producer");
    for (int i = 0; i < RECORDS; i++) {
      expected.add("out-" + value(i));
    }
    producer.start();

    Path log = tmp.resolve(mainClass.substring(mainClass.lastIndexOf('.') + 1) + ".log");
    try {
      for (int k = 0; k < kills; k++) {
        long before = committedOutput(out);
        Process p = start(mainClass, args, log);
        long deadline = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
        while (committedOutput(out) <= before) {
          if (!p.isAlive()) {
            fail(mainClass + " exited (" + p.exitValue() + ") before the output progressed\n" + tail(log));
          }
          if (System.nanoTime() > deadline) {
            p.destroyForcibly().waitFor();
            fail("the output of " + mainClass + " did not progress past " + before + "\n" + tail(log));
          }
          Thread.sleep(20);
        }
        Thread.sleep(ThreadLocalRandom.current().nextInt(0, 250));
        assertTrue(p.isAlive(), mainClass + " ended before the kill\n" + tail(log));
        p.destroyForcibly();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the killed process did not end");
        appendLog(log, "=== killed (SIGKILL) run " + (k + 1) + " at committed output " + committedOutput(out));
        killsDone.incrementAndGet();
      }
      producer.join(TestEnv.TIMEOUT.toMillis());
      if (produceError.get() != null) {
        throw new AssertionError("producing the input failed", produceError.get());
      }
      Process last = start(mainClass, args, log);
      if (!last.waitFor(TestEnv.TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        last.destroyForcibly().waitFor();
        fail(mainClass + " did not exit after the input went idle\n" + tail(log));
      }
      assertEquals(0, last.exitValue(), mainClass + " failed\n" + tail(log));
    } finally {
      producer.join(TestEnv.TIMEOUT.toMillis());
    }

    List<String> got = TestEnv.readCommitted(bootstrap, out, PARTITIONS);
    Map<String, Long> counts = got.stream()
        .collect(Collectors.groupingBy(v -> v, TreeMap::new, Collectors.counting()));
    Map<String, Long> dups = counts.entrySet().stream().filter(e -> e.getValue() > 1)
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a, TreeMap::new));
    List<String> missing = expected.stream().filter(v -> !counts.containsKey(v)).toList();
    List<String> unexpected = counts.keySet().stream().filter(v -> !v.startsWith("out-v-")).toList();
    assertTrue(dups.isEmpty() && missing.isEmpty() && unexpected.isEmpty(),
        "output of " + mainClass + ": " + got.size() + " records; duplicated " + first(dups.keySet())
            + " (" + dups.size() + "), missing " + first(missing) + " (" + missing.size()
            + "), unexpected " + first(unexpected) + "\n" + tail(log));
    assertEquals(RECORDS, got.size());
    System.out.println(tail(log));
  }

  private static String value(int i) {
    return String.format("v-%05d", i);
  }

  /** Writes the numbered input records, spread over PRODUCE_MILLIS. */
  /**
   * Produces the input in slices paced over PRODUCE_MILLIS, in {@code kills + 1} phases: phase k is
   * produced only once k kills happened, so that every run of the example has input left to copy
   * and a fast machine cannot finish the input before the last kill.
   */
  private static void produce(String topic, int kills, AtomicInteger killsDone) throws Exception {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    long start = System.nanoTime();
    int slices = 40;
    try (KafkaProducer<String, String> p = new KafkaProducer<>(props)) {
      for (int s = 0; s < slices; s++) {
        int phase = s * (kills + 1) / slices;
        long gate = System.nanoTime() + TestEnv.TIMEOUT.toNanos();
        while (killsDone.get() < phase && System.nanoTime() < gate) {
          TimeUnit.MILLISECONDS.sleep(10);
        }
        for (int i = s * RECORDS / slices; i < (s + 1) * RECORDS / slices; i++) {
          p.send(new ProducerRecord<>(topic, i % PARTITIONS, null, value(i)));
        }
        p.flush();
        long due = start + TimeUnit.MILLISECONDS.toNanos(PRODUCE_MILLIS * (s + 1) / slices);
        long left = due - System.nanoTime();
        if (left > 0) {
          TimeUnit.NANOSECONDS.sleep(left);
        }
      }
    }
  }

  private static Process start(String mainClass, List<String> args, Path log) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass);
    cmd.addAll(args);
    appendLog(log, "=== start " + mainClass);
    return new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
  }

  /** The committed (read_committed end) offsets of the output, summed over its partitions. */
  private static long committedOutput(String topic) throws Exception {
    Map<TopicPartition, OffsetSpec> req = new HashMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      req.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    return admin.listOffsets(req, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
        .all().get(TestEnv.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
        .values().stream().mapToLong(i -> i.offset()).sum();
  }

  private static void appendLog(Path log, String line) throws IOException {
    Files.writeString(log, line + "\n", StandardCharsets.UTF_8,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return "--- " + log + " (last lines) ---\n"
          + String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private static String first(Collection<String> c) {
    return c.stream().limit(5).toList().toString();
  }
}
