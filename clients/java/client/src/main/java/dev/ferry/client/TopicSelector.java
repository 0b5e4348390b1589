package dev.ferry.client;

import java.io.Serializable;
import java.util.function.Function;

/**
 * Picks the topic of each element (Flink's TopicSelector), for
 * {@link KafkaRecordSerializationSchemaBuilder#setTopicSelector}.
 *
 * @param <IN> the element type
 */
@FunctionalInterface
public interface TopicSelector<IN> extends Function<IN, String>, Serializable {}
