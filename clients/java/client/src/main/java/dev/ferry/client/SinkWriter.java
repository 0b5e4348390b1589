package dev.ferry.client;

import dev.ferry.v1.Checkpoint;
import dev.ferry.v1.Close;
import dev.ferry.v1.CommitCheckpoint;
import dev.ferry.v1.ConsumedOffsets;
import dev.ferry.v1.JobCheckpoints;
import dev.ferry.v1.OpenSink;
import dev.ferry.v1.PartitionOffset;
import dev.ferry.v1.SinkOpened;
import dev.ferry.v1.SinkRecord;
import dev.ferry.v1.SinkServiceGrpc;
import dev.ferry.v1.SinkState;
import dev.ferry.v1.WriteBatch;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One writer of a {@link KafkaSink}: a ferry sink session. {@link #write} buffers records and sends
 * them in batches; {@link #prepare} is Flink's checkpoint of the writer (flush, and under
 * EXACTLY_ONCE pre-commit), {@link #commit} its committer. A failure of the session is thrown as a
 * {@link FerryException} by the next call. Not thread-safe: use it from one thread.
 */
public final class SinkWriter<T> implements AutoCloseable {
  private static final Object COMPLETED = new Object();
  private static final int MAX_BATCH_BYTES = 4 << 20;
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(60);

  private record Failure(Throwable error) {}

  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final KafkaRecordSerializationSchema<T> serializer;
  private final boolean exactlyOnce;
  private final int maxBatchRecords;
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  private final Object readyLock = new Object();
  private volatile ClientCallStreamObserver<WriteRequest> requests;
  private final SinkOpened opened;
  /** The job of the open message, or null for a session whose states the client holds. */
  private final JobCheckpoints job;
  private final int index;
  private long committedCheckpointId;

  private WriteBatch.Builder batch = WriteBatch.newBuilder();
  private int batchBytes;
  private long sequence;
  private long recordsWritten;
  private boolean streamDone;
  private boolean closed;
  private FerryException error;
  private boolean errorThrown;

  SinkWriter(ManagedChannel channel, boolean ownsChannel, OpenSink open,
      KafkaRecordSerializationSchema<T> serializer, boolean exactlyOnce, int maxBatchRecords) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.serializer = serializer;
    this.exactlyOnce = exactlyOnce;
    this.maxBatchRecords = maxBatchRecords;
    this.job = open.hasJob() ? open.getJob() : null;
    this.index = open.getWriterIndex();
    Tracing.propagate(SinkServiceGrpc.newStub(channel)).write(new ClientResponseObserver<WriteRequest, WriteResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<WriteRequest> stream) {
        requests = stream;
        stream.setOnReadyHandler(() -> {
          synchronized (readyLock) {
            readyLock.notifyAll();
          }
        });
      }

      @Override
      public void onNext(WriteResponse value) {
        events.add(value);
      }

      @Override
      public void onError(Throwable t) {
        events.add(new Failure(t));
        wake();
      }

      @Override
      public void onCompleted() {
        events.add(COMPLETED);
        wake();
      }

      private void wake() {
        synchronized (readyLock) {
          readyLock.notifyAll();
        }
      }
    });
    try {
      requests.onNext(WriteRequest.newBuilder().setOpen(open).build());
      opened = await(WriteResponse.KindCase.OPENED, "opened").getOpened();
    } catch (RuntimeException e) {
      if (!streamDone) {
        requests.cancel("open failed", e);
      }
      if (ownsChannel) {
        channel.shutdownNow();
      }
      throw e;
    }
  }

  /** The server's answer to open (session id, transactions committed from the restore state). */
  public SinkOpened opened() {
    return opened;
  }

  /** The job of {@link KafkaSink.Builder#setJob}, or null for a session whose states the client holds. */
  public String job() {
    return job != null ? job.getJob() : null;
  }

  /** The operator of {@link KafkaSink.Builder#setJob}, or null. */
  public String operator() {
    return job != null ? job.getOperator() : null;
  }

  /** This writer's index among the writers of its sink. */
  public int index() {
    return index;
  }

  /**
   * In a job with restore latest: the completed checkpoint whose transactions this writer committed
   * at open, 0 for a fresh start. Continue with larger checkpoint ids.
   */
  public long restoredCheckpointId() {
    return opened.getRestoredCheckpointId();
  }

  /** In a job with restore latest: what ferry restored, or why nothing. */
  public String restoreNote() {
    return opened.getRestoreNote();
  }

  /**
   * In a job: the newest checkpoint whose transactions this writer reported committed, as of the
   * messages read so far (0 before any).
   */
  public long committedCheckpointId() {
    return committedCheckpointId;
  }

  /** Records Kafka acknowledged in this session, as of the last flush answer or close. */
  public long recordsWritten() {
    return recordsWritten;
  }

  /** Serializes {@code element} and buffers it; full batches are sent at once. */
  public void write(T element) {
    writeRecord(serializer.serialize(element));
  }

  /** Buffers a record as it is, bypassing the serializer. */
  public void writeRecord(SinkRecord record) {
    checkOpen();
    pollFailure();
    batch.addRecords(record);
    batchBytes += record.getSerializedSize();
    if (batch.getRecordsCount() >= maxBatchRecords || batchBytes >= MAX_BATCH_BYTES) {
      sendBatch();
    }
  }

  /**
   * Sends the buffered records to the server. It does not wait for Kafka: {@link #prepare} does
   * (AT_LEAST_ONCE and EXACTLY_ONCE).
   */
  public void flush() {
    checkOpen();
    sendBatch();
  }

  /**
   * Sends the buffered records (none is fine) in one batch that also carries source offsets to
   * commit to consumer group {@code groupId} inside the open transaction: Kafka's
   * {@code sendOffsetsToTransaction}, the Java form of Python's
   * {@code flush(consumed_offsets=(group, offsets))}. The offsets then commit atomically with the
   * records when {@link #commit} commits this transaction, and are dropped with it when it aborts,
   * so a source opened with {@link OffsetsInitializer#committedOffsets()} for the group (and
   * {@code isolation.level=read_committed} downstream) resumes exactly after the last committed
   * transaction, with no client state (DESIGN: end-to-end exactly-once, way 2). Offsets sent again
   * for a partition in the same transaction replace the earlier ones. Like {@link #flush()} it does
   * not wait for the server.
   *
   * <p>Errors: the server refuses offsets unless the sink is
   * {@link DeliveryGuarantee#EXACTLY_ONCE}, and an empty group id, an empty map, an empty topic or
   * a negative partition or offset; that fails the session with INVALID_ARGUMENT naming
   * {@code consumed_offsets}; an offset commit that Kafka refuses fails it with the status of the
   * Kafka error. Either is thrown as a {@link FerryException} by this or the next call on the
   * writer ({@link #prepare} at the latest); the open transaction never commits.
   *
   * @param groupId the consumer group whose offsets to commit
   * @param nextOffsets for each source partition, the next offset to read: the offset of the last
   *     record consumed to produce this transaction's records, plus one
   * @throws NullPointerException if an argument, a key or a value is null
   * @throws FerryException if the session failed
   * @throws IllegalStateException if the writer is closed
   */
  public void flush(String groupId, Map<TopicPartition, Long> nextOffsets) {
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(nextOffsets, "nextOffsets");
    checkOpen();
    ConsumedOffsets.Builder co = ConsumedOffsets.newBuilder().setGroupId(groupId);
    nextOffsets.entrySet().stream()
        .sorted(Map.Entry.comparingByKey(Comparator.comparing(TopicPartition::topic)
            .thenComparingInt(TopicPartition::partition)))
        .forEach(e -> co.addOffsets(PartitionOffset.newBuilder()
            .setTopic(Objects.requireNonNull(e.getKey(), "nextOffsets key").topic())
            .setPartition(e.getKey().partition())
            .setOffset(Objects.requireNonNull(e.getValue(), "nextOffsets value for " + e.getKey()))));
    batch.setConsumedOffsets(co);
    sendBatch();
  }

  /**
   * Checkpoint {@code checkpointId} (ids strictly increasing): sends the buffered records and waits
   * for the server's answer. Under NONE and AT_LEAST_ONCE (where the server waited until Kafka
   * acknowledged everything) it returns an empty state; under EXACTLY_ONCE the prepared
   * transactions not committed yet, to store with the checkpoint and pass to
   * {@link KafkaSink#open(SinkState)} on a restore. In a job ({@link KafkaSink.Builder#setJob})
   * ferry stored the state before answering.
   */
  public SinkState prepare(long checkpointId) {
    requestPrepare(checkpointId);
    return awaitPrepared(checkpointId);
  }

  /** Sends the buffered records and asks for a checkpoint (the first half of {@link #prepare}). */
  void requestPrepare(long checkpointId) {
    checkOpen();
    sendBatch();
    send(WriteRequest.newBuilder()
        .setCheckpoint(Checkpoint.newBuilder().setCheckpointId(checkpointId)).build());
  }

  /** Waits for the answer to a checkpoint (the second half of {@link #prepare}). */
  SinkState awaitPrepared(long checkpointId) {
    if (exactlyOnce) {
      WriteResponse r = await(WriteResponse.KindCase.PREPARED, "prepared(" + checkpointId + ")");
      return r.getPrepared().getState();
    }
    WriteResponse r = await(WriteResponse.KindCase.FLUSHED, "flushed(" + checkpointId + ")");
    recordsWritten = r.getFlushed().getRecordsWritten();
    return SinkState.getDefaultInstance();
  }

  /**
   * Checkpoint {@code checkpointId} is complete: under EXACTLY_ONCE commits every prepared
   * transaction up to it and waits for the server; otherwise does nothing.
   *
   * @throws IllegalStateException for a writer of a job ({@link KafkaSink.Builder#setJob}), whose
   *     checkpoints complete through {@link JobCoordinator#complete} (see {@link #awaitCommitted});
   *     nothing is sent
   */
  public void commit(long checkpointId) {
    checkOpen();
    if (job != null) {
      throw JobSessions.refuseLocalCompletion(job, "commit");
    }
    if (!exactlyOnce) {
      return;
    }
    send(WriteRequest.newBuilder()
        .setCommit(CommitCheckpoint.newBuilder().setCheckpointId(checkpointId)).build());
    await(WriteResponse.KindCase.COMMITTED, "committed(" + checkpointId + ")");
  }

  /**
   * In a job: waits until this writer reported the commit of a checkpoint >= {@code checkpointId},
   * which it does once the job's checkpoint completed ({@link JobCoordinator#complete}), and
   * returns that checkpoint's id. Under NONE and AT_LEAST_ONCE nothing is committed: returns at
   * once.
   *
   * @throws IllegalStateException for a writer outside a job (its {@link #commit} waits itself)
   * @throws FerryException DEADLINE_EXCEEDED when no such commit came within {@code timeout}, or
   *     the session's failure
   */
  public long awaitCommitted(long checkpointId, Duration timeout) {
    if (job == null) {
      throw new IllegalStateException(
          "awaitCommitted is for writers of a job (setJob); commit() waits for its own commit");
    }
    checkOpen();
    if (!exactlyOnce) {
      return checkpointId;
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    while (committedCheckpointId < checkpointId) {
      if (error != null) {
        errorThrown = true;
        throw error;
      }
      if (streamDone) {
        throw new FerryException(Status.Code.INTERNAL,
            "the stream ended with OK while waiting for committed(" + checkpointId + ")", null);
      }
      long left = deadline - System.nanoTime();
      Object ev = left > 0 ? take(left) : null;
      if (ev == null) {
        throw new FerryException(Status.Code.DEADLINE_EXCEEDED,
            "no commit of checkpoint " + checkpointId + " within " + timeout, null);
      }
      if (!(ev instanceof WriteResponse r && committed(r))) {
        if (ev instanceof WriteResponse r) {
          throw new FerryException(Status.Code.INTERNAL, "unexpected message: " + r, null);
        }
        handleTerminal(ev);
      }
    }
    return committedCheckpointId;
  }

  /**
   * A job's commit report, which comes whenever a checkpoint of the job completed: noted, and true;
   * false for any other message.
   */
  private boolean committed(WriteResponse r) {
    if (job == null || r.getKindCase() != WriteResponse.KindCase.COMMITTED) {
      return false;
    }
    committedCheckpointId = Math.max(committedCheckpointId, r.getCommitted().getCheckpointId());
    return true;
  }

  /**
   * Flushes, ends the session and waits for the server's final count. Under EXACTLY_ONCE the open
   * transaction is aborted and prepared ones are left for a commit after a restore. Throws a
   * FerryException if the session failed and no earlier call reported it.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    try {
      if (error == null && !streamDone) {
        sendBatch();
        send(WriteRequest.newBuilder().setClose(Close.getDefaultInstance()).build());
        closed = true;
        WriteResponse r = await(WriteResponse.KindCase.CLOSED, "closed");
        recordsWritten = r.getClosed().getRecordsWritten();
        requests.onCompleted();
        long deadline = System.nanoTime() + CLOSE_TIMEOUT.toNanos();
        while (!streamDone) {
          Object ev = take(Math.max(1, deadline - System.nanoTime()));
          if (ev == null) {
            break;
          }
          handleTerminal(ev);
        }
      }
      closed = true;
      if (error != null && !errorThrown) {
        errorThrown = true;
        throw error;
      }
    } catch (RuntimeException e) {
      if (!streamDone) {
        requests.cancel("close failed", e);
      }
      throw e;
    } finally {
      closed = true;
      if (ownsChannel) {
        channel.shutdownNow();
      }
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the writer is closed");
    }
  }

  private void sendBatch() {
    if (batch.getRecordsCount() == 0 && !batch.hasConsumedOffsets()) {
      return;
    }
    WriteBatch b = batch.setSequence(++sequence).build();
    batch = WriteBatch.newBuilder();
    batchBytes = 0;
    awaitReady();
    send(WriteRequest.newBuilder().setRecords(b).build());
  }

  /** Waits while the transport's buffer is full (flow control), failing if the session failed. */
  private void awaitReady() {
    synchronized (readyLock) {
      while (!requests.isReady()) {
        pollFailure();
        if (streamDone) {
          break;
        }
        try {
          readyLock.wait(50);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new FerryException(Status.Code.CANCELLED, "interrupted", e);
        }
      }
    }
  }

  private void send(WriteRequest req) {
    pollFailure();
    if (streamDone) {
      throw new IllegalStateException("the session already ended");
    }
    requests.onNext(req);
  }

  /** Throws the session's failure if one arrived; nothing else is expected while not waiting. */
  private void pollFailure() {
    if (error == null) {
      Object ev;
      while ((ev = events.poll()) != null) {
        if (ev instanceof WriteResponse r) {
          if (committed(r)) {
            continue;
          }
          throw new FerryException(Status.Code.INTERNAL, "unexpected message: " + r, null);
        }
        handleTerminal(ev);
      }
    }
    if (error != null) {
      errorThrown = true;
      throw error;
    }
  }

  private WriteResponse await(WriteResponse.KindCase kind, String what) {
    while (true) {
      if (error != null) {
        errorThrown = true;
        throw error;
      }
      if (streamDone) {
        throw new FerryException(Status.Code.INTERNAL,
            "the stream ended with OK while waiting for " + what, null);
      }
      Object ev = take(-1);
      if (ev instanceof WriteResponse r) {
        if (r.getKindCase() != kind && committed(r)) {
          continue;
        }
        if (r.getKindCase() != kind) {
          throw new FerryException(Status.Code.INTERNAL,
              "expected " + what + ", the server sent " + r.getKindCase(), null);
        }
        return r;
      }
      handleTerminal(ev);
    }
  }

  private void handleTerminal(Object ev) {
    if (ev == COMPLETED) {
      streamDone = true;
    } else if (ev instanceof Failure f) {
      streamDone = true;
      error = FerryException.from(f.error());
    }
  }

  private Object take(long nanos) {
    try {
      return nanos < 0 ? events.take() : events.poll(nanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new FerryException(Status.Code.CANCELLED, "interrupted", e);
    }
  }
}
