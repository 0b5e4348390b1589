package dev.ferry.examples;

import com.google.protobuf.ByteString;
import dev.ferry.client.Ferry;
import dev.ferry.client.FerryException;
import dev.ferry.client.KafkaRecord;
import dev.ferry.client.KafkaSource;
import dev.ferry.client.OffsetResetStrategy;
import dev.ferry.client.OffsetsInitializer;
import dev.ferry.client.SimpleStringSchema;
import dev.ferry.client.SourceReader;
import dev.ferry.client.TopicPartition;
import dev.ferry.v1.Checkpoint;
import dev.ferry.v1.Close;
import dev.ferry.v1.CommitCheckpoint;
import dev.ferry.v1.ConsumedOffsets;
import dev.ferry.v1.DeliveryGuarantee;
import dev.ferry.v1.OpenSink;
import dev.ferry.v1.PartitionOffset;
import dev.ferry.v1.SinkRecord;
import dev.ferry.v1.SinkSpec;
import dev.ferry.v1.WriteBatch;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Exactly-once copy without any client state: the consumed offsets are committed to the consumer
 * group inside the sink's Kafka transaction (Kafka's consume-transform-produce loop).
 *
 * <p>The source starts from the group's committed offsets (EARLIEST where the group has none) and
 * never commits offsets itself (commit.offsets.on.checkpoint=false). Every ~200 ms the records read
 * since the last transaction are sent in one WriteBatch whose consumed_offsets name the group and,
 * per partition, the next offset to read; the transaction is then pre-committed (Checkpoint) and
 * committed (CommitCheckpoint). A crash before the commit leaves a transaction that the next
 * session aborts at open, and the group's offsets still point at its first record, so it is copied
 * again, once.
 *
 * <p>The facade's SinkWriter has no way to attach consumed offsets to a batch, so the sink side
 * uses the generated gRPC stubs (dev.ferry.v1) directly.
 *
 * <pre>
 * java dev.ferry.examples.OffsetsInTransaction FERRY_ADDR INPUT OUTPUT GROUP_ID TX_ID_PREFIX IDLE_EXIT_SECONDS
 * </pre>
 */
public final class OffsetsInTransaction {
  private static final long TRANSACTION_INTERVAL_MS = 200;
  private static final int MAX_BATCH_RECORDS = 1000;
  private static final long ANSWER_TIMEOUT_SECONDS = 60;

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

    ManagedChannel channel = Ferry.connect(addr);
    try (RawSink sink = new RawSink(channel, SinkSpec.newBuilder()
            .setDeliveryGuarantee(DeliveryGuarantee.DELIVERY_GUARANTEE_EXACTLY_ONCE)
            .setTransactionalIdPrefix(txPrefix)
            .setDefaultTopic(output)
            .build());
        SourceReader<String> reader = source.open()) {
      log("start: " + reader.splits().size() + " splits from the group's committed offsets");
      long lastInput = System.nanoTime();
      long lastTx = System.nanoTime();
      long txId = 0;
      long copied = 0;
      List<SinkRecord> records = new ArrayList<>();
      Map<TopicPartition, Long> next = new LinkedHashMap<>();
      while (true) {
        KafkaRecord<String> r = reader.poll(Duration.ofMillis(50));
        long now = System.nanoTime();
        if (r != null) {
          records.add(SinkRecord.newBuilder()
              .setValue(ByteString.copyFrom("out-" + r.value(), StandardCharsets.UTF_8))
              .build());
          next.put(r.topicPartition(), r.offset() + 1);
          lastInput = now;
          if (records.size() >= MAX_BATCH_RECORDS) {
            sink.send(records, group, next);
            copied += records.size();
            records.clear();
          }
        }
        boolean idle = now - lastInput >= idleExitNanos;
        if (now - lastTx >= TRANSACTION_INTERVAL_MS * 1_000_000L || idle) {
          if (!records.isEmpty()) {
            sink.send(records, group, next);
            copied += records.size();
            records.clear();
          }
          if (!next.isEmpty()) {
            txId++;
            sink.prepare(txId);
            sink.commit(txId);
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
    } finally {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** A blocking EXACTLY_ONCE sink session on the generated stub. */
  static final class RawSink implements AutoCloseable {
    private static final Object COMPLETED = new Object();

    private final BlockingQueue<Object> answers = new LinkedBlockingQueue<>();
    private final StreamObserver<WriteRequest> requests;
    private long sequence;
    private boolean done;

    RawSink(ManagedChannel channel, SinkSpec spec) {
      requests = Ferry.sink(channel).write(new StreamObserver<>() {
        @Override
        public void onNext(WriteResponse value) {
          answers.add(value);
        }

        @Override
        public void onError(Throwable t) {
          answers.add(t);
        }

        @Override
        public void onCompleted() {
          answers.add(COMPLETED);
        }
      });
      // No restore state: the server aborts what earlier sessions of the prefix left open.
      requests.onNext(WriteRequest.newBuilder()
          .setOpen(OpenSink.newBuilder().setSpec(spec)).build());
      await(WriteResponse.KindCase.OPENED);
    }

    /** Sends one batch carrying, per partition, the next offset to read after it. */
    void send(List<SinkRecord> records, String group, Map<TopicPartition, Long> next) {
      ConsumedOffsets.Builder co = ConsumedOffsets.newBuilder().setGroupId(group);
      next.forEach((tp, off) -> co.addOffsets(PartitionOffset.newBuilder()
          .setTopic(tp.topic()).setPartition(tp.partition()).setOffset(off)));
      requests.onNext(WriteRequest.newBuilder().setRecords(WriteBatch.newBuilder()
          .setSequence(++sequence).addAllRecords(records).setConsumedOffsets(co)).build());
    }

    void prepare(long id) {
      requests.onNext(WriteRequest.newBuilder()
          .setCheckpoint(Checkpoint.newBuilder().setCheckpointId(id)).build());
      await(WriteResponse.KindCase.PREPARED);
    }

    void commit(long id) {
      requests.onNext(WriteRequest.newBuilder()
          .setCommit(CommitCheckpoint.newBuilder().setCheckpointId(id)).build());
      await(WriteResponse.KindCase.COMMITTED);
    }

    @Override
    public void close() {
      if (done) {
        return;
      }
      requests.onNext(WriteRequest.newBuilder().setClose(Close.getDefaultInstance()).build());
      await(WriteResponse.KindCase.CLOSED);
      requests.onCompleted();
      done = true;
    }

    private WriteResponse await(WriteResponse.KindCase kind) {
      Object a;
      try {
        a = answers.poll(ANSWER_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new FerryException(Status.Code.CANCELLED, "interrupted", e);
      }
      if (a instanceof WriteResponse r && r.getKindCase() == kind) {
        return r;
      }
      done = true;
      if (a instanceof Throwable t) {
        throw new FerryException(Status.fromThrowable(t).getCode(), String.valueOf(t.getMessage()), t);
      }
      throw new IllegalStateException("waiting for " + kind + ", got " + (a == null ? "nothing within "
          + ANSWER_TIMEOUT_SECONDS + " s" : a == COMPLETED ? "the end of the stream" : a));
    }
  }

  private static void log(String msg) {
    System.err.println("[OffsetsInTransaction] " + msg);
  }
}
