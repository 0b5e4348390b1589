package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The environment of the integration tests: a running ferry server and the real Kafka broker it is
 * connected to. Both are required; a missing one fails the tests, it never skips them.
 */
final class TestEnv {
  /** The longest a test waits for any one answer of the server or the broker. */
  static final Duration TIMEOUT = Duration.ofSeconds(30);

  private TestEnv() {}

  /** host:port of the ferry server under test. */
  static String ferryAddr() {
    return require("FERRY_ADDR", "host:port of a running ferry server (ferry serve --listen ADDR --kafka BOOTSTRAP)");
  }

  /** host:port of the Kafka broker the ferry server is connected to. */
  static String kafkaBootstrap() {
    return require("FERRY_TEST_KAFKA", "host:port of the Kafka broker the ferry server uses (test/kafka/with-kafka.sh sets it)");
  }

  private static String require(String name, String meaning) {
    String value = System.getenv(name);
    if (value == null || value.isBlank()) {
      fail(name + " is not set: it must be " + meaning
          + ". These tests need a real ferry server and Kafka broker; they do not skip.");
    }
    return value.trim();
  }

  static Admin admin(String bootstrap) {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "ferry-java-test-admin");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    return Admin.create(props);
  }

  /**
   * Creates a topic with a unique name (the broker does not auto-create topics) and waits until the
   * broker describes all its partitions.
   */
  static String createTopic(Admin admin, String prefix, int partitions) throws Exception {
    String topic = "ferry-java-" + prefix + "-" + UUID.randomUUID();
    admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1)))
        .all()
        .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (true) {
      try {
        Map<String, TopicDescription> d = admin.describeTopics(List.of(topic))
            .allTopicNames()
            .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        if (d.get(topic).partitions().size() == partitions
            && d.get(topic).partitions().stream().allMatch(p -> p.leader() != null)) {
          return topic;
        }
      } catch (java.util.concurrent.ExecutionException e) {
        // not yet known to the broker's metadata: retry until the deadline
      }
      if (System.nanoTime() > deadline) {
        fail("topic " + topic + " was created but the broker did not describe its "
            + partitions + " partitions within " + TIMEOUT);
      }
      Thread.sleep(100);
    }
  }

  /** Every value of {@code topic} under read_committed, up to its last stable offsets. */
  static List<String> readCommitted(String bootstrap, String topic, int partitions) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    List<String> values = new ArrayList<>();
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(props)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < partitions; p++) {
        tps.add(new TopicPartition(topic, p));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps, TIMEOUT);
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (tps.stream().anyMatch(tp -> c.position(tp, TIMEOUT) < end.get(tp))) {
        if (System.nanoTime() > deadline) {
          fail("could not read " + topic + " up to " + end + " within " + TIMEOUT);
        }
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
          values.add(r.value());
        }
      }
    }
    return values;
  }
}
