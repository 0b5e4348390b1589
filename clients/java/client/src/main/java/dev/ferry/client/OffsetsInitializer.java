package dev.ferry.client;

import dev.ferry.v1.PartitionOffset;
import java.util.Map;
import java.util.Objects;

/**
 * Picks an offset for every split, as Flink's OffsetsInitializer; the server resolves it. Used for
 * starting offsets and for stopping offsets (setBounded / setUnbounded).
 */
public final class OffsetsInitializer {
  private final dev.ferry.v1.OffsetsInitializer proto;

  private OffsetsInitializer(dev.ferry.v1.OffsetsInitializer proto) {
    this.proto = proto;
  }

  /** The earliest offset of each partition. */
  public static OffsetsInitializer earliest() {
    return new OffsetsInitializer(dev.ferry.v1.OffsetsInitializer.newBuilder()
        .setEarliest(dev.ferry.v1.OffsetsInitializer.Earliest.getDefaultInstance()).build());
  }

  /** The latest offset (the end) of each partition. */
  public static OffsetsInitializer latest() {
    return new OffsetsInitializer(dev.ferry.v1.OffsetsInitializer.newBuilder()
        .setLatest(dev.ferry.v1.OffsetsInitializer.Latest.getDefaultInstance()).build());
  }

  /** The group's committed offsets; a partition without one fails (NONE, Flink's default). */
  public static OffsetsInitializer committedOffsets() {
    return committedOffsets(OffsetResetStrategy.NONE);
  }

  /** The group's committed offsets, with {@code reset} for partitions that have none. */
  public static OffsetsInitializer committedOffsets(OffsetResetStrategy reset) {
    Objects.requireNonNull(reset, "reset");
    return new OffsetsInitializer(dev.ferry.v1.OffsetsInitializer.newBuilder()
        .setCommitted(dev.ferry.v1.OffsetsInitializer.Committed.newBuilder()
            .setResetStrategy(reset.proto))
        .build());
  }

  /** The first offset whose timestamp is >= {@code timestampMs}, or the end of the partition. */
  public static OffsetsInitializer timestamp(long timestampMs) {
    return new OffsetsInitializer(
        dev.ferry.v1.OffsetsInitializer.newBuilder().setTimestampMs(timestampMs).build());
  }

  /** Explicit offsets; partitions not listed start at earliest (Flink's default). */
  public static OffsetsInitializer offsets(Map<TopicPartition, Long> offsets) {
    return offsets(offsets, OffsetResetStrategy.EARLIEST);
  }

  /** Explicit offsets; partitions not listed use {@code reset}. */
  public static OffsetsInitializer offsets(
      Map<TopicPartition, Long> offsets, OffsetResetStrategy reset) {
    Objects.requireNonNull(offsets, "offsets");
    Objects.requireNonNull(reset, "reset");
    dev.ferry.v1.OffsetsInitializer.Specific.Builder b =
        dev.ferry.v1.OffsetsInitializer.Specific.newBuilder().setResetStrategy(reset.proto);
    offsets.forEach((tp, off) -> b.addOffsets(PartitionOffset.newBuilder()
        .setTopic(tp.topic()).setPartition(tp.partition()).setOffset(off)));
    return new OffsetsInitializer(dev.ferry.v1.OffsetsInitializer.newBuilder().setSpecific(b).build());
  }

  /** The wire form. */
  public dev.ferry.v1.OffsetsInitializer toProto() {
    return proto;
  }

  @Override
  public String toString() {
    return "OffsetsInitializer{" + proto.toString().trim().replace('\n', ' ') + "}";
  }
}
