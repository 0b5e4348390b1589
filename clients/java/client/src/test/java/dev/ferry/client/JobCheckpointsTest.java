package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.ferry.v1.Barrier;
import dev.ferry.v1.CheckpointServiceGrpc;
import dev.ferry.v1.CompleteCheckpointRequest;
import dev.ferry.v1.CompleteCheckpointResponse;
import dev.ferry.v1.JobCheckpoints;
import dev.ferry.v1.OpenSink;
import dev.ferry.v1.OpenSource;
import dev.ferry.v1.PreparedTransaction;
import dev.ferry.v1.Prepared;
import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.Record;
import dev.ferry.v1.RecordBatch;
import dev.ferry.v1.SinkClosed;
import dev.ferry.v1.SinkOpened;
import dev.ferry.v1.SinkServiceGrpc;
import dev.ferry.v1.SinkState;
import dev.ferry.v1.SourceOpened;
import dev.ferry.v1.SourceServiceGrpc;
import dev.ferry.v1.SourceState;
import dev.ferry.v1.SplitState;
import dev.ferry.v1.TransactionsCommitted;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The facade of checkpoints kept by ferry ({@code setJob}, {@link JobCoordinator}) against a scripted
 * ferry (in-process SourceService, SinkService and CheckpointService that act like ferry for a job):
 * what the open messages carry, what readers and writers expose, the local refusals of client-held
 * states and of a session's own completion, and the coordinator's order of barriers, records before
 * them, prepares and the one completion. {@link JobCheckpointsFerryTest} runs a job against the real
 * ferry and broker.
 */
@Timeout(60)
class JobCheckpointsTest {
  private static final String JOB = "job-a";
  private static final ScriptedJob ferry = new ScriptedJob();
  private static Server server;
  private static ManagedChannel channel;

  @BeforeAll
  static void setUp() throws IOException {
    server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
        .addService(ferry.source).addService(ferry.sink).addService(ferry.checkpoints)
        .build().start();
    channel = Ferry.connect("127.0.0.1:" + server.getPort());
  }

  @AfterAll
  static void tearDown() throws InterruptedException {
    channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
  }

  @BeforeEach
  void reset() {
    ferry.reset();
  }

  @Test
  void openCarriesTheJobAndReportsTheRestore() {
    ferry.restored = 41;
    ferry.note = "restored checkpoint 41";
    try (SourceReader<String> reader = source(1, 2, JOB); SinkWriter<String> writer = sink(JOB)) {
      assertEquals(41, reader.restoredCheckpointId());
      assertEquals("restored checkpoint 41", reader.restoreNote());
      assertEquals(41, writer.restoredCheckpointId());
      assertEquals("restored checkpoint 41", writer.restoreNote());
      assertEquals(List.of(JOB, "src", 1), List.of(reader.job(), reader.operator(), reader.index()));
      assertEquals(List.of(JOB, "snk", 0), List.of(writer.job(), writer.operator(), writer.index()));
    }
    OpenSource src = (OpenSource) ferry.opens.get(0);
    OpenSink snk = (OpenSink) ferry.opens.get(1);
    assertEquals(JobCheckpoints.newBuilder().setJob(JOB).setOperator("src").setRestoreLatest(true).build(), src.getJob());
    assertFalse(src.hasRestore());
    assertEquals(JobCheckpoints.newBuilder().setJob(JOB).setOperator("snk").setRestoreLatest(true).build(), snk.getJob());
    assertFalse(snk.hasRestore());

    KafkaSource<String> fresh = sourceBuilder(0, 1).setRestoreLatest(false).setJob(JOB, "src").build();
    try (SourceReader<String> reader = fresh.open(); SourceReader<String> plain = sourceBuilder(0, 1).build().open()) {
      assertNull(plain.job());
      assertNull(plain.operator());
    }
    assertFalse(((OpenSource) ferry.opens.get(2)).getJob().getRestoreLatest());
    assertFalse(((OpenSource) ferry.opens.get(3)).hasJob());
  }

  @Test
  void aJobRefusesClientHeldStatesAndEmptyNames() {
    KafkaSource<String> source = sourceBuilder(0, 1).setJob(JOB, "src").build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> source.open(SourceState.getDefaultInstance()));
    assertTrue(e.getMessage().contains("not used by a source with setJob"), e.getMessage());
    KafkaSink<String> sink = sinkBuilder().setJob(JOB, "snk").build();
    e = assertThrows(IllegalArgumentException.class, () -> sink.open(SinkState.getDefaultInstance()));
    assertTrue(e.getMessage().contains("not used by a sink with setJob"), e.getMessage());
    assertTrue(ferry.opens.isEmpty(), "refused before any call");
    assertThrows(IllegalArgumentException.class, () -> sourceBuilder(0, 1).setJob("", "src"));
    assertThrows(IllegalArgumentException.class, () -> sinkBuilder().setJob(JOB, ""));
    assertThrows(IllegalArgumentException.class, () -> new JobCoordinator("", channel));
  }

  @Test
  void aSessionOfAJobDoesNotCompleteByItself() {
    try (SourceReader<String> reader = source(0, 1, JOB); SinkWriter<String> writer = sink(JOB)) {
      reader.checkpoint(1);
      writer.prepare(1);
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> reader.notifyCheckpointComplete(1));
      assertTrue(e.getMessage().contains("JobCoordinator") && e.getMessage().contains("\"src\""), e.getMessage());
      e = assertThrows(IllegalStateException.class, () -> writer.commit(1));
      assertTrue(e.getMessage().contains("JobCoordinator") && e.getMessage().contains("job \"job-a\""), e.getMessage());
      // Nothing was sent: both sessions go on.
      reader.checkpoint(2);
      writer.prepare(2);
    }
    assertFalse(ferry.kinds().contains("source-CHECKPOINT_COMPLETE"));
    assertFalse(ferry.kinds().contains("sink-COMMIT"));
    try (SinkWriter<String> plain = sinkBuilder().build().open()) {
      assertThrows(IllegalStateException.class, () -> plain.awaitCommitted(1, TestEnv.TIMEOUT));
    }
  }

  @Test
  void checkpointHandsTheRecordsBeforeTheBarriersToProcessThenPreparesAndCompletes() {
    ferry.barrierState = SourceState.newBuilder()
        .addSplits(SplitState.newBuilder().setTopic("t").setPartition(0).setNextOffset(5)).build();
    try (SourceReader<String> reader = source(0, 1, JOB); SinkWriter<String> writer = sink(JOB)) {
      ferry.beforeBarrier.add(batch(3, 4));
      List<Long> got = new ArrayList<>();
      CompleteCheckpointResponse done = new JobCoordinator(JOB, channel).checkpoint(7, List.of(reader),
          List.of(writer), records -> records.forEach(r -> {
            got.add(r.offset());
            writer.write("out-" + r.value());
          }));
      assertEquals(7, done.getCheckpointId());
      assertEquals(Map.of("src", 1, "snk", 1), done.getOperatorsMap());
      assertEquals(List.of(3L, 4L), got);
      assertTrue(reader.takeBuffered().isEmpty());
      assertEquals(7, writer.awaitCommitted(7, TestEnv.TIMEOUT));
      assertEquals(7, writer.committedCheckpointId());
      // The job's stored state is the barrier's, not moved back to the unreturned record.
      ferry.beforeBarrier.add(batch(5));
      assertEquals(5, reader.checkpoint(8).getSplits(0).getNextOffset());
      assertEquals(1, reader.takeBuffered().size());
      // A commit report between answers is taken in stride: committed(8) comes before prepared(9).
      writer.prepare(8);
      new JobCoordinator(JOB, channel).complete(8);
      writer.prepare(9);
      assertEquals(8, writer.committedCheckpointId());
      assertEquals(8, writer.awaitCommitted(8, TestEnv.TIMEOUT));
    }
    List<String> kinds = ferry.kinds();
    int batch = kinds.indexOf("sink-RECORDS");
    int prepare = kinds.indexOf("sink-CHECKPOINT");
    int complete = kinds.indexOf("complete");
    assertTrue(kinds.indexOf("source-CHECKPOINT") < batch && batch < prepare && prepare < complete, kinds.toString());
    WriteRequest records = (WriteRequest) ferry.log.get(batch).getValue();
    assertEquals(List.of("out-r3", "out-r4"), records.getRecords().getRecordsList().stream()
        .map(r -> r.getValue().toStringUtf8()).toList());
    CompleteCheckpointRequest req = (CompleteCheckpointRequest) ferry.log.get(complete).getValue();
    assertEquals(List.of(JOB, 7L, ""), List.of(req.getJob(), req.getCheckpointId(), req.getCluster()));
  }

  @Test
  void checkpointWithoutProcessRefusesRecordsBeforeABarrier() {
    try (SourceReader<String> reader = source(0, 1, JOB); SinkWriter<String> writer = sink(JOB)) {
      ferry.beforeBarrier.add(batch(0));
      FerryException e = assertThrows(FerryException.class,
          () -> new JobCoordinator(JOB, channel).checkpoint(1, List.of(reader), List.of(writer), null));
      assertEquals(Status.Code.FAILED_PRECONDITION, e.getCode());
      assertTrue(e.getMessage().contains("reader 0 of operator \"src\""), e.getMessage());
      assertEquals(0, reader.next().offset(), "the record stays for the iterator");
    }
    assertFalse(ferry.kinds().contains("sink-CHECKPOINT"));
    assertFalse(ferry.kinds().contains("complete"));
  }

  @Test
  void checkpointRefusesStreamsOfAnotherJobAndCompleteReportsTheServer() {
    try (SourceReader<String> other = source(0, 1, "other"); SourceReader<String> r1 = source(1, 2, JOB)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new JobCoordinator(JOB, channel).checkpoint(1, List.of(other), List.of(), null));
      assertTrue(e.getMessage().contains("reader 0 of operator src is not a session of job job-a"), e.getMessage());
      assertFalse(ferry.kinds().contains("source-CHECKPOINT"));
      FerryException fe = assertThrows(FerryException.class,
          () -> new JobCoordinator(JOB, channel, "main", TestEnv.TIMEOUT).complete(3));
      assertEquals(Status.Code.FAILED_PRECONDITION, fe.getCode());
      assertTrue(fe.getFerryMessage().contains("operator src index"), fe.getFerryMessage());
      CompleteCheckpointRequest req = (CompleteCheckpointRequest) ferry.log.get(ferry.kinds().indexOf("complete")).getValue();
      assertEquals("main", req.getCluster());
    }
  }

  // ---- helpers ----

  private static ReadResponse batch(long... offsets) {
    RecordBatch.Builder b = RecordBatch.newBuilder();
    for (long o : offsets) {
      b.addRecords(Record.newBuilder().setTopic("t").setPartition(0).setOffset(o)
          .setValue(ByteString.copyFrom("r" + o, StandardCharsets.UTF_8)));
    }
    return ReadResponse.newBuilder().setRecords(b).build();
  }

  private static KafkaSource.Builder<String> sourceBuilder(int index, int parallelism) {
    return KafkaSource.<String>builder()
        .setFerryChannel(channel)
        .setTopics("t")
        .setReader(index, parallelism)
        .setValueOnlyDeserializer(new SimpleStringSchema());
  }

  private static SourceReader<String> source(int index, int parallelism, String job) {
    return sourceBuilder(index, parallelism).setJob(job, "src").build().open();
  }

  private static KafkaSink.Builder<String> sinkBuilder() {
    return KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic("out").setValueSerializationSchema(new SimpleStringSchema()).build())
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix("p");
  }

  private static SinkWriter<String> sink(String job) {
    return sinkBuilder().setJob(job, "snk").build().open();
  }

  /**
   * ferry for one job, in memory: opens answer {@code restored} and {@code note}, a barrier follows
   * what the test queued in {@code beforeBarrier} and carries {@code barrierState}, prepared answers
   * carry one transaction, and CompleteCheckpoint checks that every stream that opened answered the
   * id (FAILED_PRECONDITION naming operator and index, as ferry), then makes every sink answer
   * committed. {@code log} has every request in order.
   */
  private static final class ScriptedJob {
    final List<Object> opens = new CopyOnWriteArrayList<>();
    final List<Map.Entry<String, Object>> log = new CopyOnWriteArrayList<>();
    final List<ReadResponse> beforeBarrier = new CopyOnWriteArrayList<>();
    final Map<String, Set<Long>> answered = new HashMap<>();
    final List<StreamObserver<WriteResponse>> sinks = new CopyOnWriteArrayList<>();
    volatile long restored;
    volatile String note = "";
    volatile SourceState barrierState = SourceState.getDefaultInstance();

    void reset() {
      opens.clear();
      log.clear();
      beforeBarrier.clear();
      synchronized (answered) {
        answered.clear();
      }
      sinks.clear();
      restored = 0;
      note = "";
      barrierState = SourceState.getDefaultInstance();
    }

    List<String> kinds() {
      return log.stream().map(Map.Entry::getKey).toList();
    }

    void answer(String stream, long id) {
      synchronized (answered) {
        answered.computeIfAbsent(stream, k -> new HashSet<>()).add(id);
      }
    }

    final SourceServiceGrpc.SourceServiceImplBase source = new SourceServiceGrpc.SourceServiceImplBase() {
      @Override
      public StreamObserver<ReadRequest> read(StreamObserver<ReadResponse> out) {
        return new Ignoring<>() {
          String stream;

          @Override
          public void onNext(ReadRequest req) {
            log.add(Map.entry("source-" + req.getKindCase(), req));
            switch (req.getKindCase()) {
              case OPEN -> {
                opens.add(req.getOpen());
                stream = "operator " + req.getOpen().getJob().getOperator() + " index " + req.getOpen().getReaderIndex();
                answer(stream, 0);
                out.onNext(ReadResponse.newBuilder().setOpened(SourceOpened.newBuilder().setSessionId("s")
                    .setRestoredCheckpointId(restored).setRestoreNote(note)).build());
              }
              case CHECKPOINT -> {
                long id = req.getCheckpoint().getCheckpointId();
                beforeBarrier.forEach(out::onNext);
                beforeBarrier.clear();
                answer(stream, id);
                out.onNext(ReadResponse.newBuilder().setBarrier(Barrier.newBuilder().setCheckpointId(id)
                    .setState(barrierState)).build());
              }
              case CLOSE -> out.onCompleted();
              default -> { }
            }
          }
        };
      }
    };

    final SinkServiceGrpc.SinkServiceImplBase sink = new SinkServiceGrpc.SinkServiceImplBase() {
      @Override
      public StreamObserver<WriteRequest> write(StreamObserver<WriteResponse> out) {
        return new Ignoring<>() {
          String stream;

          @Override
          public void onNext(WriteRequest req) {
            log.add(Map.entry("sink-" + req.getKindCase(), req));
            synchronized (out) {
              switch (req.getKindCase()) {
                case OPEN -> {
                  opens.add(req.getOpen());
                  stream = "operator " + req.getOpen().getJob().getOperator() + " index " + req.getOpen().getWriterIndex();
                  answer(stream, 0);
                  sinks.add(out);
                  out.onNext(WriteResponse.newBuilder().setOpened(SinkOpened.newBuilder().setSessionId("w")
                      .setRestoredCheckpointId(restored).setRestoreNote(note)).build());
                }
                case CHECKPOINT -> {
                  long id = req.getCheckpoint().getCheckpointId();
                  answer(stream, id);
                  out.onNext(WriteResponse.newBuilder().setPrepared(Prepared.newBuilder().setCheckpointId(id)
                      .setState(SinkState.newBuilder().addTransactions(PreparedTransaction.newBuilder()
                          .setTransactionalId("p-0-1").setCheckpointId(id)))).build());
                }
                case CLOSE -> {
                  sinks.remove(out);
                  out.onNext(WriteResponse.newBuilder().setClosed(SinkClosed.getDefaultInstance()).build());
                  out.onCompleted();
                }
                default -> { }
              }
            }
          }
        };
      }
    };

    final CheckpointServiceGrpc.CheckpointServiceImplBase checkpoints = new CheckpointServiceGrpc.CheckpointServiceImplBase() {
      @Override
      public void completeCheckpoint(CompleteCheckpointRequest req, StreamObserver<CompleteCheckpointResponse> out) {
        log.add(Map.entry("complete", req));
        Map<String, Integer> operators = new HashMap<>();
        synchronized (answered) {
          for (Map.Entry<String, Set<Long>> e : answered.entrySet()) {
            if (!e.getValue().contains(req.getCheckpointId())) {
              out.onError(Status.FAILED_PRECONDITION.withDescription("checkpoint " + req.getCheckpointId()
                  + " cannot complete: " + e.getKey() + " has not answered it").asRuntimeException());
              return;
            }
            String[] words = e.getKey().split(" ");
            operators.merge(words[1], Integer.parseInt(words[3]) + 1, Math::max);
          }
        }
        for (StreamObserver<WriteResponse> s : sinks) {
          synchronized (s) {
            s.onNext(WriteResponse.newBuilder().setCommitted(TransactionsCommitted.newBuilder()
                .setCheckpointId(req.getCheckpointId())).build());
          }
        }
        out.onNext(CompleteCheckpointResponse.newBuilder().setCheckpointId(req.getCheckpointId())
            .putAllOperators(operators).build());
        out.onCompleted();
      }
    };
  }

  /** A request observer that ignores the client's end and errors. */
  private abstract static class Ignoring<T> implements StreamObserver<T> {
    @Override
    public void onError(Throwable t) {}

    @Override
    public void onCompleted() {}
  }
}
