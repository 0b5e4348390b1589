package dev.ferry.client;

/** What to do when an offset is missing (Kafka's OffsetResetStrategy). */
public enum OffsetResetStrategy {
  NONE(dev.ferry.v1.OffsetResetStrategy.OFFSET_RESET_STRATEGY_NONE),
  EARLIEST(dev.ferry.v1.OffsetResetStrategy.OFFSET_RESET_STRATEGY_EARLIEST),
  LATEST(dev.ferry.v1.OffsetResetStrategy.OFFSET_RESET_STRATEGY_LATEST);

  final dev.ferry.v1.OffsetResetStrategy proto;

  OffsetResetStrategy(dev.ferry.v1.OffsetResetStrategy proto) {
    this.proto = proto;
  }
}
