package dev.ferry.examples;

import dev.ferry.client.DeliveryGuarantee;
import dev.ferry.client.KafkaRecord;
import dev.ferry.client.KafkaRecordSerializationSchema;
import dev.ferry.client.KafkaSink;
import dev.ferry.client.KafkaSource;
import dev.ferry.client.OffsetResetStrategy;
import dev.ferry.client.OffsetsInitializer;
import dev.ferry.client.SimpleStringSchema;
import dev.ferry.client.SinkWriter;
import dev.ferry.client.SourceReader;
import dev.ferry.client.TopicPartition;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Exactly-once copy without any client state: the consumed offsets are committed to the consumer
 * group inside the sink's Kafka transaction (Kafka's consume-transform-produce loop).
 *
 * <p>The source starts from the group's committed offsets (EARLIEST where the group has none) and
 * never commits offsets itself (commit.offsets.on.checkpoint=false). Every ~200 ms the records read
 * since the last transaction are sent with {@link SinkWriter#flush(String, Map)}, whose batch names
 * the group and, per partition, the next offset to read; the transaction is then pre-committed
 * ({@code prepare}) and committed ({@code commit}). A crash before the commit leaves a transaction
 * that the next session aborts at open, and the group's offsets still point at its first record, so
 * it is copied again, once.
 *
 * <pre>
 * java dev.ferry.examples.OffsetsInTransaction FERRY_ADDR INPUT OUTPUT GROUP_ID TX_ID_PREFIX IDLE_EXIT_SECONDS
 * </pre>
 */
public final class OffsetsInTransaction {
  private static final long TRANSACTION_INTERVAL_MS = 200;
  private static final int MAX_BATCH_RECORDS = 1000;

  private OffsetsInTransaction() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: OffsetsInTransaction FERRY_ADDR INPUT_TOPIC OUTPUT_TOPIC GROUP_ID "
          + "TX_ID_PREFIX IDLE_EXIT_SECONDS");
      System.exit(2);
    }
    String addr = args[0];
    String input = args[1];
    String output = args[2];
    String group = args[3];
    String txPrefix = args[4];
    long idleExitNanos = Duration.ofSeconds(Long.parseLong(args[5])).toNanos();

    KafkaSource<String> source = KafkaSource.<String>builder()
        .setFerryAddress(addr)
        .setTopics(input)
        .setGroupId(group)
        .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
        .setProperty("commit.offsets.on.checkpoint", "false")
        .setValueOnlyDeserializer(new SimpleStringSchema())
        .build();
    KafkaSink<String> sink = KafkaSink.<String>builder()
        .setFerryAddress(addr)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(output)
            .setValueSerializationSchema(new SimpleStringSchema())
            .build())
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(txPrefix)
        // Above the loop's own cut, so that every batch goes out through flush(group, offsets).
        .setMaxBatchRecords(MAX_BATCH_RECORDS + 1)
        .build();

    // No restore state: the sink aborts what earlier sessions of the prefix left open.
    try (SinkWriter<String> writer = sink.open();
        SourceReader<String> reader = source.open()) {
      log("start: " + reader.splits().size() + " splits from the group's committed offsets");
      long lastInput = System.nanoTime();
      long lastTx = System.nanoTime();
      long txId = 0;
      long copied = 0;
      int buffered = 0;
      Map<TopicPartition, Long> next = new LinkedHashMap<>();
      while (true) {
        KafkaRecord<String> r = reader.poll(Duration.ofMillis(50));
        long now = System.nanoTime();
        if (r != null) {
          writer.write("out-" + r.value());
          next.put(r.topicPartition(), r.offset() + 1);
          lastInput = now;
          if (++buffered >= MAX_BATCH_RECORDS) {
            writer.flush(group, next);
            copied += buffered;
            buffered = 0;
          }
        }
        boolean idle = now - lastInput >= idleExitNanos;
        if (now - lastTx >= TRANSACTION_INTERVAL_MS * 1_000_000L || idle) {
          if (buffered > 0) {
            writer.flush(group, next);
            copied += buffered;
            buffered = 0;
          }
          if (!next.isEmpty()) {
            txId++;
            writer.prepare(txId);
            writer.commit(txId);
            next.clear();
          }
          lastTx = System.nanoTime();
        }
        if (idle && next.isEmpty()) {
          log("idle for " + args[5] + " s after transaction " + txId + "; copied " + copied
              + " records in this run; exiting");
          break;
        }
      }
    }
  }

  private static void log(String msg) {
    System.err.println("[OffsetsInTransaction] " + msg);
  }
}
