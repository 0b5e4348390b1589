package dev.ferry.client;

import dev.ferry.v1.SplitState;
import java.util.List;
import java.util.Objects;

/**
 * An event of a source session other than records, in stream order with the records: what a
 * {@link SourceReader} hands to its {@link SourceReader#setEventListener event listener}. The kinds
 * and names are those of the Python facade's {@code with_events()}.
 */
public sealed interface SourceEvent {

  /**
   * The reader's combined watermark advanced (Flink's {@code Watermark}): no record with a timestamp
   * at or below it is expected from the splits that are not idle. Sent only with a
   * {@link WatermarkStrategy}; the values strictly increase within a session.
   *
   * @param timestamp the watermark, in milliseconds since the Unix epoch
   */
  record WatermarkEvent(long timestamp) implements SourceEvent {}

  /**
   * Every split of the reader is idle (Flink's {@code WatermarkStatus.IDLE}); sent only when the
   * strategy has {@link WatermarkStrategy#withIdleness idleness}. The reader becomes active again
   * with its next record; that is not a separate event: the next {@link WatermarkEvent} shows it.
   */
  record IdleEvent() implements SourceEvent {}

  /**
   * Partition discovery added splits to this reader.
   *
   * @param splits the new splits at their start offsets
   */
  record SplitsAddedEvent(List<SplitState> splits) implements SourceEvent {
    public SplitsAddedEvent {
      splits = List.copyOf(splits);
    }
  }

  /**
   * A split reached its stopping offset; no more records come from it.
   *
   * @param split the topic partition
   * @param stoppingOffset the offset at which it stopped (exclusive)
   */
  record SplitFinishedEvent(TopicPartition split, long stoppingOffset) implements SourceEvent {
    public SplitFinishedEvent {
      Objects.requireNonNull(split, "split");
    }
  }

  /**
   * The outcome of the offset commit of a completed checkpoint (see
   * {@link SourceReader#notifyCheckpointComplete}).
   *
   * @param checkpointId the checkpoint whose offsets were committed
   * @param error empty on success; a failed commit is reported, never fatal
   * @param failedCommits the commits of this session that failed so far
   */
  record OffsetsCommittedEvent(long checkpointId, String error, long failedCommits)
      implements SourceEvent {
    public OffsetsCommittedEvent {
      Objects.requireNonNull(error, "error");
    }
  }
}
