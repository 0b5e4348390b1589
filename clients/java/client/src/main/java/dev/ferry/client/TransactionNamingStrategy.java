package dev.ferry.client;

/**
 * How an EXACTLY_ONCE sink names its transactions (Flink 4.x's TransactionNamingStrategy), for
 * {@link KafkaSink.Builder#setTransactionNamingStrategy}. ferry pools: each writer reuses a small
 * pool of transactional ids, {@code {prefix}-{writer index}-{n}}, taking a free one for each
 * transaction, and a restore aborts the lingering transactions of the prefix by listing them
 * (Flink's {@code POOLING} with the {@code LISTING} abort strategy). {@code INCREMENTING}, a new id
 * per checkpoint, is not what ferry does, and is refused.
 */
public enum TransactionNamingStrategy {
  /** A new transactional id per checkpoint (Flink's default); ferry does not do this. */
  INCREMENTING,
  /** Transactional ids reused from a pool, what ferry does (its only strategy). */
  POOLING
}
