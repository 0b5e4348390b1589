package dev.ferry.client;

import dev.ferry.v1.CheckpointServiceGrpc;
import dev.ferry.v1.CompleteCheckpointRequest;
import dev.ferry.v1.CompleteCheckpointResponse;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Completes the checkpoints of a job whose readers and writers were built with {@code setJob}
 * (Flink's checkpoint coordinator, with ferry as the checkpoint storage). The client keeps nothing:
 * ferry stores each reader's barrier state and each writer's prepared transactions before it
 * answers them, and a checkpoint completes once, for the whole job, by {@link #complete}; only then
 * do the job's sessions, on whichever ferry serves them, commit offsets and transactions. A crash
 * before the completion means the checkpoint never happened; after it, a restore (restore latest)
 * finishes the commits.
 *
 * <pre>{@code
 * JobCoordinator coordinator = new JobCoordinator("my-job", channel);
 * long n = Math.max(reader.restoredCheckpointId(), writer.restoredCheckpointId());
 * while (running) {
 *   KafkaRecord<String> r = reader.poll(Duration.ofMillis(100));
 *   if (r != null) writer.write(transform(r.value()));
 *   if (timeForACheckpoint()) {
 *     coordinator.checkpoint(++n, List.of(reader), List.of(writer),
 *         records -> records.forEach(x -> writer.write(transform(x.value()))));
 *   }
 * }
 * }</pre>
 *
 * <p>Thread-safe as far as {@link #complete} goes; {@link #checkpoint} uses the readers and writers,
 * which belong to one thread.
 */
public final class JobCoordinator implements AutoCloseable {
  private final String job;
  private final String cluster;
  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final Duration timeout;

  /**
   * A coordinator that calls any ferry through {@code channel} (the caller keeps it and shuts it
   * down), for a job kept in the server's default cluster, with no deadline on a completion.
   */
  public JobCoordinator(String job, ManagedChannel channel) {
    this(job, channel, null, null, false);
  }

  /**
   * A coordinator for a job kept in the checkpoint topic of ferry's cluster {@code cluster} (a
   * configured cluster's name; null is the server's default), whose completions may take at most
   * {@code timeout} (null: no deadline).
   */
  public JobCoordinator(String job, ManagedChannel channel, String cluster, Duration timeout) {
    this(job, channel, cluster, timeout, false);
  }

  private JobCoordinator(String job, ManagedChannel channel, String cluster, Duration timeout,
      boolean ownsChannel) {
    Objects.requireNonNull(job, "job");
    if (job.isEmpty()) {
      throw new IllegalArgumentException("JobCoordinator: job must be a non-empty name");
    }
    this.job = job;
    this.channel = Objects.requireNonNull(channel, "channel");
    this.cluster = cluster;
    this.timeout = timeout;
    this.ownsChannel = ownsChannel;
  }

  /**
   * A coordinator with a channel of its own to the ferry at {@code hostPort} (see
   * {@link Ferry#connect(String, Ferry.Credentials)}), shut down by {@link #close}.
   */
  public static JobCoordinator connect(String job, String hostPort, Ferry.Credentials credentials,
      String cluster, Duration timeout) {
    ManagedChannel ch = Ferry.connect(hostPort, credentials);
    try {
      return new JobCoordinator(job, ch, cluster, timeout, true);
    } catch (RuntimeException e) {
      ch.shutdownNow();
      throw e;
    }
  }

  /** The job's name. */
  public String job() {
    return job;
  }

  /**
   * Completes checkpoint {@code checkpointId} of the job ({@code CheckpointService.CompleteCheckpoint})
   * after every reader and writer of the job answered it; returns once ferry wrote the completion
   * durably, with the job's operators and their parallelism. Completing a completed id answers the
   * same again, so a call that failed with UNAVAILABLE (the ferry died; the completion may or may
   * not be written) may be retried, on any ferry.
   *
   * @throws FerryException FAILED_PRECONDITION when a stream has not answered the checkpoint (the
   *     message names operator and index) or the id is older than the last completed one;
   *     UNAVAILABLE or DEADLINE_EXCEEDED when the call or Kafka failed
   */
  public CompleteCheckpointResponse complete(long checkpointId) {
    CompleteCheckpointRequest.Builder req = CompleteCheckpointRequest.newBuilder()
        .setJob(job).setCheckpointId(checkpointId);
    if (cluster != null) {
      req.setCluster(cluster);
    }
    CheckpointServiceGrpc.CheckpointServiceBlockingStub stub = CheckpointServiceGrpc.newBlockingStub(channel);
    if (timeout != null) {
      stub = stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }
    try {
      return stub.completeCheckpoint(req.build());
    } catch (StatusRuntimeException e) {
      throw FerryException.from(e);
    }
  }

  /**
   * Takes checkpoint {@code checkpointId} of every given stream of the job and completes it, as
   * Flink's job manager does:
   *
   * <ol>
   *   <li>asks every reader for its barrier and waits for them (ferry stored each reader's state
   *       before answering);
   *   <li>the records that arrived before a reader's barrier and were not returned yet belong to
   *       this checkpoint (its stored state is past them): they go to {@code process}, reader by
   *       reader, which must write what it makes of them to the writers;
   *   <li>every writer prepares (flushes; ferry stored its state before answering);
   *   <li>{@link #complete}.
   * </ol>
   *
   * <p>Call it between polls, when every record taken from the readers has been written. The
   * writers' commits follow the completion ({@link SinkWriter#awaitCommitted}). The id must be
   * larger than the last completed one: after a restore, {@code restoredCheckpointId() + 1} or more.
   *
   * @param process receives the records before each reader's barrier (not called for none); null
   *     when the caller knows there are none
   * @throws IllegalArgumentException when a stream is not a session of this job
   * @throws FerryException as the readers, writers and {@link #complete} throw it, and
   *     FAILED_PRECONDITION without preparing any writer when a reader holds records before its
   *     barrier and {@code process} is null
   */
  public <T> CompleteCheckpointResponse checkpoint(long checkpointId, List<? extends SourceReader<T>> readers,
      List<? extends SinkWriter<?>> writers, Consumer<List<KafkaRecord<T>>> process) {
    for (SourceReader<T> r : readers) {
      checkJob("reader", r.index(), r.operator(), r.job());
    }
    for (SinkWriter<?> w : writers) {
      checkJob("writer", w.index(), w.operator(), w.job());
    }
    for (SourceReader<T> r : readers) {
      r.requestCheckpoint(checkpointId);
    }
    for (SourceReader<T> r : readers) {
      r.awaitBarrier(checkpointId);
    }
    if (process == null) {
      for (SourceReader<T> r : readers) {
        if (r.hasBuffered()) {
          throw new FerryException(io.grpc.Status.Code.FAILED_PRECONDITION, "reader " + r.index()
              + " of operator \"" + r.operator() + "\" holds records that came before the barrier of checkpoint "
              + checkpointId + "; they belong to it and must reach the writers before the writers prepare:"
              + " pass a process to JobCoordinator.checkpoint (the checkpoint is not completed)", null);
        }
      }
    } else {
      for (SourceReader<T> r : readers) {
        List<KafkaRecord<T>> records = r.takeBuffered();
        if (!records.isEmpty()) {
          process.accept(records);
        }
      }
    }
    for (SinkWriter<?> w : writers) {
      w.requestPrepare(checkpointId);
    }
    for (SinkWriter<?> w : writers) {
      w.awaitPrepared(checkpointId);
    }
    return complete(checkpointId);
  }

  /** {@link #checkpoint(long, List, List, Consumer)} of writers alone (a job without sources here). */
  public CompleteCheckpointResponse checkpoint(long checkpointId, List<? extends SinkWriter<?>> writers) {
    return checkpoint(checkpointId, new ArrayList<SourceReader<Object>>(), writers, null);
  }

  private void checkJob(String kind, int index, String operator, String streamJob) {
    if (!job.equals(streamJob)) {
      throw new IllegalArgumentException(kind + " " + index + " of operator " + operator
          + " is not a session of job " + job + " (its job: " + streamJob + "; use setJob on its builder)");
    }
  }

  /** Shuts the channel down if the coordinator opened it. */
  @Override
  public void close() {
    if (ownsChannel) {
      channel.shutdownNow();
    }
  }
}
