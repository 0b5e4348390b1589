package dev.ferry.client;

import dev.ferry.v1.Barrier;
import dev.ferry.v1.Checkpoint;
import dev.ferry.v1.CheckpointComplete;
import dev.ferry.v1.Close;
import dev.ferry.v1.JobCheckpoints;
import dev.ferry.v1.OffsetsCommitted;
import dev.ferry.v1.OpenSource;
import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.Record;
import dev.ferry.v1.SourceOpened;
import dev.ferry.v1.SourceState;
import dev.ferry.v1.SplitState;
import dev.ferry.v1.SourceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One reader of a {@link KafkaSource}: a ferry source session. It is an {@link Iterator} (and
 * {@link Iterable}) of records that blocks for the next record and ends when a bounded input ends;
 * {@link #poll(Duration)} waits at most a given time. A failure of the session is thrown as a
 * {@link FerryException}. Not thread-safe: use it from one thread.
 *
 * <p>Checkpoints: {@link #checkpoint(long)} asks the server for a barrier and waits for it; records
 * that arrive before the barrier are buffered and still returned, in order, by the iterator. The
 * returned state is the position of what this reader has returned so far: for a split with buffered
 * records it is the offset of the first buffered one, so restoring it loses and repeats nothing.
 * Records are fetched with flow control: at most a few messages wait in the client.
 *
 * <p>Events: watermarks, idleness, splits added and finished, and offset commit outcomes come in
 * the same stream as the records. The iterator skips them; an {@link #setEventListener event
 * listener} receives them, each at its place between the records.
 */
public final class SourceReader<T> implements Iterator<KafkaRecord<T>>, Iterable<KafkaRecord<T>>,
    AutoCloseable {
  private static final Object COMPLETED = new Object();
  private static final int INITIAL_REQUEST = 4;
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

  private record Failure(Throwable error) {}

  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final KafkaRecordDeserializationSchema<T> deserializer;
  /** The deserializer when it reads only values (valueOnly), else null. */
  private final ValueOnlyDeserializer<T> valueOnly;
  private final WireBytes wire = new WireBytes();
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  /** Records (KafkaRecord) and events (SourceEvent) received and not yet passed, in order. */
  private final ArrayDeque<Object> pending = new ArrayDeque<>();
  private final Map<Long, Barrier> barriers = new HashMap<>();
  private final Map<TopicPartition, Long> finished = new HashMap<>();
  private final List<SplitState> ownedSplits = new java.util.ArrayList<>();
  private volatile ClientCallStreamObserver<ReadRequest> requests;
  private final SourceOpened opened;
  /** The job of the open message, or null for a session whose states the client holds. */
  private final JobCheckpoints job;
  private final int index;

  private boolean streamDone;
  private boolean endOfInput;
  private boolean closed;
  private FerryException error;
  private OffsetsCommitted lastCommitted;
  private long watermark = Long.MIN_VALUE;
  private Consumer<? super SourceEvent> eventListener;

  SourceReader(ManagedChannel channel, boolean ownsChannel, OpenSource open,
      KafkaRecordDeserializationSchema<T> deserializer) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.deserializer = deserializer;
    this.valueOnly = deserializer instanceof ValueOnlyDeserializer<T> v ? v : null;
    this.job = open.hasJob() ? open.getJob() : null;
    this.index = open.getReaderIndex();
    // The callbacks below only queue what comes for the reader's thread, which deserializes it;
    // they run (with the parsing of each message) on the transport's thread instead of being
    // handed to gRPC's executor first, one thread switch less per message (Runnable::run is a direct
    // executor).
    Tracing.propagate(SourceServiceGrpc.newStub(channel)).withExecutor(Runnable::run)
        .read(new ClientResponseObserver<ReadRequest, ReadResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<ReadRequest> stream) {
        requests = stream;
        stream.disableAutoRequestWithInitial(INITIAL_REQUEST);
      }

      @Override
      public void onNext(ReadResponse value) {
        events.add(value);
      }

      @Override
      public void onError(Throwable t) {
        events.add(new Failure(t));
      }

      @Override
      public void onCompleted() {
        events.add(COMPLETED);
      }
    });
    try {
      requests.onNext(ReadRequest.newBuilder().setOpen(open).build());
      Object first = take(-1);
      if (first instanceof ReadResponse r && r.hasOpened()) {
        opened = r.getOpened();
        ownedSplits.addAll(opened.getSplitsList());
      } else {
        handle(first);
        if (error != null) {
          throw error;
        }
        throw new FerryException(Status.Code.INTERNAL,
            "the server's first message was not opened: " + first, null);
      }
    } catch (RuntimeException e) {
      if (!streamDone && requests != null) {
        requests.cancel("open failed", e);
      }
      if (ownsChannel) {
        channel.shutdownNow();
      }
      throw e instanceof FerryException ? e : FerryException.from(e);
    }
  }

  /** The server's answer to open: session id, boundedness, the owned splits at their start. */
  public SourceOpened opened() {
    return opened;
  }

  /** The splits this reader owns, at their start offsets. */
  public List<SplitState> splits() {
    return opened.getSplitsList();
  }

  /** The job of {@link KafkaSource.Builder#setJob}, or null for a session whose states the client holds. */
  public String job() {
    return job != null ? job.getJob() : null;
  }

  /** The operator of {@link KafkaSource.Builder#setJob}, or null. */
  public String operator() {
    return job != null ? job.getOperator() : null;
  }

  /** This reader's index among the readers of its source. */
  public int index() {
    return index;
  }

  /**
   * In a job with restore latest: the completed checkpoint this reader resumed from, 0 for a fresh
   * start. Continue with larger checkpoint ids (the next one is this + 1).
   */
  public long restoredCheckpointId() {
    return opened.getRestoredCheckpointId();
  }

  /** In a job with restore latest: what ferry restored, or why nothing (a job it keeps nothing of). */
  public String restoreNote() {
    return opened.getRestoreNote();
  }

  /**
   * Receives the session's events ({@link SourceEvent}: watermarks, idleness, splits added and
   * finished, offset commit outcomes) in stream order with the records, the way Python's
   * {@code with_events()} yields them: {@link #hasNext}, {@link #next} and {@link #poll} call it, on
   * the caller's thread, for every event before the record they return (or, when they return none,
   * for every event that came), so an event reaches the listener after every record the server sent
   * before it and before any record sent after it. {@link #checkpoint} and
   * {@link #awaitOffsetsCommitted} keep events buffered with the records for the iterator to pass.
   *
   * <p>Events are kept only while a listener is set: set it right after {@link KafkaSource#open()}
   * to see all of them (nothing is read before the first call on the reader); those that arrive
   * while it is null are dropped, as they are by default. An exception thrown by the listener comes
   * out of the call that delivered the event; that event is not delivered again.
   *
   * @param listener the listener, or null to drop events
   * @return this reader
   */
  public SourceReader<T> setEventListener(Consumer<? super SourceEvent> listener) {
    this.eventListener = listener;
    return this;
  }

  /** True once the input ended (end_of_input) and every record was returned. */
  public boolean isEndOfInput() {
    return endOfInput && pending.isEmpty();
  }

  /**
   * The latest watermark the server sent (ms since the Unix epoch), as of the messages this reader
   * has received (which may be ahead of the records returned so far); Long.MIN_VALUE before any, and
   * always without a {@link WatermarkStrategy}.
   */
  public long currentWatermark() {
    return watermark;
  }

  /** Waits up to {@code timeout} for the next record; null on timeout or at the end of input. */
  public KafkaRecord<T> poll(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!passEvents()) {
      throwIfFailed();
      if (streamDone) {
        return null;
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return null;
      }
      Object ev = take(left);
      if (ev == null) {
        return null;
      }
      handle(ev);
    }
    return takeRecord();
  }

  /** Blocks until a record is available (true) or the input ended (false). */
  @Override
  public boolean hasNext() {
    while (!passEvents()) {
      throwIfFailed();
      if (streamDone) {
        return false;
      }
      handle(take(-1));
    }
    return true;
  }

  @Override
  public KafkaRecord<T> next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the input ended");
    }
    return takeRecord();
  }

  /**
   * Hands the events at the head of the buffer to the listener; true when a record is next, false
   * when the buffer is empty.
   */
  private boolean passEvents() {
    Object head;
    while ((head = pending.peek()) != null) {
      if (head instanceof KafkaRecord) {
        return true;
      }
      pending.poll();
      Consumer<? super SourceEvent> listener = eventListener;
      if (listener != null) {
        listener.accept((SourceEvent) head);
      }
    }
    return false;
  }

  @SuppressWarnings("unchecked")
  private KafkaRecord<T> takeRecord() {
    return (KafkaRecord<T>) pending.poll();
  }

  @Override
  public Iterator<KafkaRecord<T>> iterator() {
    return this;
  }

  /**
   * Takes checkpoint {@code checkpointId} (ids strictly increasing): waits for the server's barrier
   * and returns the position of every split this reader owns, as of the records returned so far.
   * Records before the barrier stay buffered and are still returned. When the input already ended
   * and the server closed the session, the state is built from the splits' stopping offsets.
   *
   * <p>In a job ({@link KafkaSource.Builder#setJob}) ferry stored the barrier's state before
   * answering, and that state is returned: it counts the records buffered before the barrier (see
   * {@link #takeBuffered}), which therefore belong to this checkpoint.
   */
  public SourceState checkpoint(long checkpointId) {
    requestCheckpoint(checkpointId);
    return awaitBarrier(checkpointId);
  }

  /** Asks for the barrier of a checkpoint (the first half of {@link #checkpoint}). */
  void requestCheckpoint(long checkpointId) {
    if (!streamDone) {
      send(ReadRequest.newBuilder()
          .setCheckpoint(Checkpoint.newBuilder().setCheckpointId(checkpointId)).build());
    } else {
      throwIfFailed();
    }
  }

  /** Waits for the barrier of a checkpoint (the second half of {@link #checkpoint}). */
  SourceState awaitBarrier(long checkpointId) {
    while (!barriers.containsKey(checkpointId)) {
      throwIfFailed();
      if (streamDone) {
        if (endOfInput) {
          // The input ended (and the server closed the session) before it saw the checkpoint:
          // every split is at its stopping offset.
          SourceState.Builder done = SourceState.newBuilder();
          for (SplitState s : ownedSplits) {
            Long stop = finished.get(new TopicPartition(s.getTopic(), s.getPartition()));
            done.addSplits(stop == null ? s : s.toBuilder().setNextOffset(stop).setStoppingOffset(stop).build());
          }
          barriers.put(checkpointId, Barrier.newBuilder()
              .setCheckpointId(checkpointId).setState(done).build());
          break;
        }
        throw new IllegalStateException(
            "the session ended before the barrier of checkpoint " + checkpointId);
      }
      handle(take(-1));
    }
    Barrier barrier = barriers.remove(checkpointId);
    if (job != null) {
      return barrier.getState();
    }
    Map<TopicPartition, Long> firstPending = new HashMap<>();
    for (Object o : pending) {
      if (o instanceof KafkaRecord<?> r) {
        firstPending.putIfAbsent(r.topicPartition(), r.offset());
      }
    }
    SourceState.Builder state = SourceState.newBuilder();
    for (SplitState s : barrier.getState().getSplitsList()) {
      Long first = firstPending.get(new TopicPartition(s.getTopic(), s.getPartition()));
      if (first != null && first < s.getNextOffset()) {
        state.addSplits(s.toBuilder().setNextOffset(first));
      } else {
        state.addSplits(s);
      }
    }
    return state.build();
  }

  /**
   * Every record that arrived and was not returned yet, without waiting for the server; events
   * among them go to the {@link #setEventListener event listener} on the way, in order. Right after
   * {@link #checkpoint} these are the records that came before its barrier: in a job
   * ({@link KafkaSource.Builder#setJob}), where ferry stored the barrier's position, they belong to
   * that checkpoint and must reach the sink before the sink prepares it
   * ({@link JobCoordinator#checkpoint} hands them to its {@code process}).
   */
  public List<KafkaRecord<T>> takeBuffered() {
    List<KafkaRecord<T>> out = new java.util.ArrayList<>();
    while (passEvents()) {
      out.add(takeRecord());
    }
    return out;
  }

  /** Whether a record arrived that was not returned yet. */
  boolean hasBuffered() {
    for (Object o : pending) {
      if (o instanceof KafkaRecord) {
        return true;
      }
    }
    return false;
  }

  /**
   * Says checkpoint {@code checkpointId} is durable: the server commits its offsets to the group
   * when committing is on. Does not wait; see {@link #awaitOffsetsCommitted}.
   *
   * @throws IllegalStateException for a reader of a job ({@link KafkaSource.Builder#setJob}), whose
   *     checkpoints complete through {@link JobCoordinator#complete}; nothing is sent
   */
  public void notifyCheckpointComplete(long checkpointId) {
    if (job != null) {
      throw JobSessions.refuseLocalCompletion(job, "notifyCheckpointComplete");
    }
    send(ReadRequest.newBuilder()
        .setCheckpointComplete(CheckpointComplete.newBuilder().setCheckpointId(checkpointId)).build());
  }

  /**
   * Waits until the server reported the offset commit of a checkpoint >= {@code checkpointId}
   * (buffering records that arrive meanwhile) and returns that report; its error is empty on
   * success.
   */
  public OffsetsCommitted awaitOffsetsCommitted(long checkpointId, Duration timeout) {
    if (!opened.getCommitOffsets()) {
      throw new IllegalStateException("this reader does not commit offsets: "
          + opened.getCommitDisabledReason());
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    while (lastCommitted == null || lastCommitted.getCheckpointId() < checkpointId) {
      throwIfFailed();
      if (streamDone) {
        throw new IllegalStateException("the session ended before the commit of " + checkpointId);
      }
      long left = deadline - System.nanoTime();
      Object ev = left > 0 ? take(left) : null;
      if (ev == null) {
        throw new FerryException(Status.Code.DEADLINE_EXCEEDED,
            "no offset commit of checkpoint " + checkpointId + " within " + timeout, null);
      }
      handle(ev);
    }
    return lastCommitted;
  }

  /** Ends the session (buffered records are dropped) and, if it owns it, the channel. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (!streamDone) {
        try {
          requests.onNext(ReadRequest.newBuilder().setClose(Close.getDefaultInstance()).build());
          requests.onCompleted();
          long deadline = System.nanoTime() + CLOSE_TIMEOUT.toNanos();
          while (!streamDone) {
            long left = deadline - System.nanoTime();
            Object ev = left > 0 ? take(left) : null;
            if (ev == null) {
              requests.cancel("close timed out", null);
              break;
            }
            if (ev instanceof ReadResponse) {
              continue; // drop what still comes
            }
            handle(ev);
          }
        } catch (RuntimeException e) {
          requests.cancel("close failed", e);
        }
      }
      pending.clear();
    } finally {
      if (ownsChannel) {
        channel.shutdownNow();
      }
    }
  }

  private void send(ReadRequest req) {
    if (closed) {
      throw new IllegalStateException("the reader is closed");
    }
    throwIfFailed();
    if (streamDone) {
      throw new IllegalStateException("the session already ended");
    }
    requests.onNext(req);
  }

  private void throwIfFailed() {
    if (error != null) {
      throw error;
    }
  }

  /** Takes the next event; waits at most {@code nanos}, forever when negative. */
  private Object take(long nanos) {
    try {
      Object ev = nanos < 0 ? events.take() : events.poll(nanos, TimeUnit.NANOSECONDS);
      if (ev instanceof ReadResponse) {
        requests.request(1);
      }
      return ev;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new FerryException(Status.Code.CANCELLED, "interrupted", e);
    }
  }

  private void handle(Object ev) {
    if (ev == COMPLETED) {
      streamDone = true;
      return;
    }
    if (ev instanceof Failure f) {
      streamDone = true;
      error = FerryException.from(f.error());
      return;
    }
    ReadResponse r = (ReadResponse) ev;
    switch (r.getKindCase()) {
      case RECORDS -> {
        if (valueOnly != null) {
          // The messages were parsed from this stream and are dropped after this: nothing but the
          // KafkaRecord and the deserializer sees their keys and values, which are therefore handed
          // over without a copy (WireBytes). A deserializer of the whole record gets the record and
          // might keep its key, so there the key is copied, as before.
          for (Record rec : r.getRecords().getRecordsList()) {
            pending.add(new KafkaRecord<>(rec.getTopic(), rec.getPartition(), rec.getOffset(),
                rec.getTimestampMs(), rec.getTimestampType(),
                rec.hasKey() ? wire.take(rec.getKey()) : null, rec.getHeadersList(),
                valueOnly.deserializeValue(rec.getTopic(), rec.hasValue() ? wire.take(rec.getValue()) : null)));
          }
        } else {
          for (Record rec : r.getRecords().getRecordsList()) {
            pending.add(new KafkaRecord<>(rec.getTopic(), rec.getPartition(), rec.getOffset(),
                rec.getTimestampMs(), rec.getTimestampType(),
                rec.hasKey() ? rec.getKey().toByteArray() : null, rec.getHeadersList(),
                deserializer.deserialize(rec)));
          }
        }
      }
      case BARRIER -> barriers.put(r.getBarrier().getCheckpointId(), r.getBarrier());
      case COMMITTED -> {
        OffsetsCommitted c = r.getCommitted();
        lastCommitted = c;
        event(new SourceEvent.OffsetsCommittedEvent(c.getCheckpointId(), c.getError(), c.getFailedCommits()));
      }
      case WATERMARK -> {
        watermark = Math.max(watermark, r.getWatermark().getTimestampMs());
        event(new SourceEvent.WatermarkEvent(r.getWatermark().getTimestampMs()));
      }
      case IDLE -> event(new SourceEvent.IdleEvent());
      case END_OF_INPUT -> endOfInput = true;
      case SPLIT_FINISHED -> {
        TopicPartition tp = new TopicPartition(r.getSplitFinished().getTopic(),
            r.getSplitFinished().getPartition());
        finished.put(tp, r.getSplitFinished().getStoppingOffset());
        event(new SourceEvent.SplitFinishedEvent(tp, r.getSplitFinished().getStoppingOffset()));
      }
      case SPLITS_ADDED -> {
        ownedSplits.addAll(r.getSplitsAdded().getSplitsList());
        event(new SourceEvent.SplitsAddedEvent(r.getSplitsAdded().getSplitsList()));
      }
      default -> { } // opened again cannot happen; kinds of a newer server are ignored
    }
  }

  /** Buffers an event with the records, when a listener will want it. */
  private void event(SourceEvent e) {
    if (eventListener != null) {
      pending.add(e);
    }
  }
}
