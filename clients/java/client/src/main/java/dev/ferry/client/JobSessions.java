package dev.ferry.client;

import dev.ferry.v1.JobCheckpoints;
import java.util.Objects;

/**
 * What {@link KafkaSource} and {@link KafkaSink} share for checkpoints kept by ferry
 * ({@code setJob}): the open message's {@link JobCheckpoints} and the local refusals of a client-held
 * state and of a session's own completion.
 */
final class JobSessions {
  private JobSessions() {}

  /** Sets job and operator on a builder's JobCheckpoints (restore latest is set apart, on by default). */
  static void set(JobCheckpoints.Builder b, String job, String operator) {
    Objects.requireNonNull(job, "job");
    Objects.requireNonNull(operator, "operator");
    if (job.isEmpty()) {
      throw new IllegalArgumentException("setJob: job must be a non-empty name");
    }
    if (operator.isEmpty()) {
      throw new IllegalArgumentException("setJob: operator must be a non-empty name (Flink's operator uid)");
    }
    b.setJob(job).setOperator(operator);
  }

  /** Whether the builder's JobCheckpoints names a job. */
  static boolean isJob(JobCheckpoints job) {
    return !job.getJob().isEmpty();
  }

  /** A job session restores from what ferry keeps, never from a state the client passes. */
  static void refuseRestoreState(Object restore, String kind) {
    if (restore != null) {
      throw new IllegalArgumentException("a restore state is not used by a " + kind + " with setJob: ferry"
          + " keeps the job's checkpoints, and restore latest resumes from the newest completed one");
    }
  }

  /** The error of a completion sent by a session of a job. */
  static IllegalStateException refuseLocalCompletion(JobCheckpoints job, String call) {
    return new IllegalStateException(call + " is not used by a session of job \"" + job.getJob()
        + "\" (operator \"" + job.getOperator() + "\"): its checkpoints complete once for the whole job,"
        + " through JobCoordinator.complete(checkpointId) (or JobCoordinator.checkpoint)");
  }
}
