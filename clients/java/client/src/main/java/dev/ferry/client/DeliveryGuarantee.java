package dev.ferry.client;

/** Flink's DeliveryGuarantee of a KafkaSink. */
public enum DeliveryGuarantee {
  /** Fire and forget: checkpoints are acknowledged at once. */
  NONE(dev.ferry.v1.DeliveryGuarantee.DELIVERY_GUARANTEE_NONE),
  /** A checkpoint waits until Kafka acknowledged every record before it. */
  AT_LEAST_ONCE(dev.ferry.v1.DeliveryGuarantee.DELIVERY_GUARANTEE_AT_LEAST_ONCE),
  /** Kafka transactions, pre-committed at a checkpoint and committed when it completes. */
  EXACTLY_ONCE(dev.ferry.v1.DeliveryGuarantee.DELIVERY_GUARANTEE_EXACTLY_ONCE);

  final dev.ferry.v1.DeliveryGuarantee proto;

  DeliveryGuarantee(dev.ferry.v1.DeliveryGuarantee proto) {
    this.proto = proto;
  }
}
