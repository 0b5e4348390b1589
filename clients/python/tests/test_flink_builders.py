"""The builders as PyFlink's: Flink's checks and messages in build() and the
setters, PyFlink's names, the default server, and poll(timeout) on an idle
source."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable

import pytest

import ferry
from conftest import TestEnv
from ferry.flink import (
    DeliveryGuarantee,
    Duration,
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    KafkaTopicPartition,
    SimpleStringSchema,
    TransactionNamingStrategy,
    WatermarkStrategy,
)


def _schema() -> "KafkaRecordSerializationSchema[str]":
    return (
        KafkaRecordSerializationSchema.builder()
        .set_topic("t")
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )


def test_source_checks_are_flinks() -> None:
    with pytest.raises(ValueError, match=r"^No subscribe mode is specified, should be one of topics, "
                       r"topic pattern and partition set\.$"):
        KafkaSource.builder().build()
    with pytest.raises(ValueError, match=r"^Cannot use topic pattern for consumption because a "
                       r"TopicListSubscriber is already set for consumption\.$"):
        KafkaSource.builder().set_topics("a").set_topic_pattern("b")
    with pytest.raises(ValueError, match="Cannot use partitions .* a TopicPatternSubscriber"):
        KafkaSource.builder().set_topic_pattern("a").set_partitions({KafkaTopicPartition("a", 0)})
    with pytest.raises(ValueError, match="Cannot use topics .* a PartitionSetSubscriber"):
        KafkaSource.builder().set_partitions({("a", 0)}).set_topics("a")
    committed = KafkaOffsetsInitializer.committed_offsets()
    msg = r"^Property group\.id is required when using committed offset for offsets initializer$"
    with pytest.raises(ValueError, match=msg):
        KafkaSource.builder().set_topics("t").set_starting_offsets(committed).build()
    with pytest.raises(ValueError, match=msg):
        KafkaSource.builder().set_topics("t").set_bounded(committed).build()
    with pytest.raises(ValueError, match=r"^Property group\.id is required when offset commit is enabled$"):
        KafkaSource.builder().set_topics("t").set_property("enable.auto.commit", True).build()
    # a group id by property will do, as in Flink
    KafkaSource.builder().set_topics("t").set_property("group.id", "g").set_starting_offsets(
        KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
    ).build()


def test_sink_checks_are_flinks() -> None:
    with pytest.raises(ValueError, match=r"^EXACTLY_ONCE delivery guarantee requires a transactionIdPrefix"):
        KafkaSink.builder().set_record_serializer(_schema()).set_delivery_guarantee(
            DeliveryGuarantee.EXACTLY_ONCE
        ).build()
    with pytest.raises(ValueError, match="^recordSerializer$"):
        KafkaSink.builder().build()
    with pytest.raises(ValueError, match="The configured prefix is too long"):
        KafkaSink.builder().set_transactional_id_prefix("p" * 64001)
    sink = (
        KafkaSink.builder()
        .set_record_serializer(_schema())
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix("app")
        .set_transaction_naming_strategy(TransactionNamingStrategy.POOLING)
        .build()
    )
    assert sink.spec.transactional_id_prefix == "app"
    with pytest.raises(ValueError, match="INCREMENTING is not supported"):
        KafkaSink.builder().set_transaction_naming_strategy(TransactionNamingStrategy.INCREMENTING)


def test_serialization_builder_checks_are_flinks() -> None:
    with pytest.raises(ValueError, match=r"^No value serializer is configured\.$"):
        KafkaRecordSerializationSchema.builder().set_topic("t").build()
    with pytest.raises(ValueError, match=r"^No topic selector is configured\.$"):
        KafkaRecordSerializationSchema.builder().set_value_serialization_schema(SimpleStringSchema()).build()
    with pytest.raises(ValueError, match=r"^Value serializer already set\.$"):
        KafkaRecordSerializationSchema.builder().set_value_serialization_schema(
            SimpleStringSchema()
        ).set_value_serialization_schema(SimpleStringSchema())
    with pytest.raises(ValueError, match=r"^Key serializer already set\.$"):
        KafkaRecordSerializationSchema.builder().set_key_serialization_schema(
            SimpleStringSchema()
        ).set_key_serialization_schema(SimpleStringSchema())
    record = (
        KafkaRecordSerializationSchema.builder()
        .set_topic("t")
        .set_value_serialization_schema(SimpleStringSchema())
        .set_header_provider(lambda v: [("h", v.encode()), ("null", None)])
        .build()
        .serialize("x")
    )
    assert [(h.key, h.value if h.HasField("value") else None) for h in record.headers] == [
        ("h", b"x"),
        ("null", None),
    ]


def test_pyflink_names() -> None:
    partitions = {KafkaTopicPartition("topic-a", 0), KafkaTopicPartition("topic-b", 5)}
    source = KafkaSource.builder().set_partitions(partitions).set_client_id_prefix("my-app").build()
    assert [(p.topic, p.partition) for p in source.spec.partitions.partitions] == [("topic-a", 0), ("topic-b", 5)]
    assert source.spec.properties["client.id.prefix"] == "my-app"
    assert KafkaTopicPartition("a", 1) == ("a", 1) and KafkaTopicPartition("a", 1).partition == 1
    init = KafkaOffsetsInitializer.offsets({KafkaTopicPartition("a", 1): 7})
    assert [(o.topic, o.partition, o.offset) for o in init.to_proto().specific.offsets] == [("a", 1, 7)]
    sink = KafkaSink.builder().set_record_serializer(_schema()).set_client_id_prefix("w").build()
    assert sink.spec.properties["client.id.prefix"] == "w"
    # PyFlink's Duration, a timedelta or milliseconds
    for delay in (Duration.of_seconds(5), timedelta(seconds=5), 5000):
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(delay).with_idleness(Duration.of_minutes(1))
        assert (strategy.max_out_of_orderness_ms, strategy.idle_timeout_ms) == (5000, 60_000)
    # SimpleStringSchema is typed str (the source is a KafkaSource[str] for mypy)
    typed: KafkaSource[str] = KafkaSource.builder().set_topics("t").set_value_only_deserializer(
        SimpleStringSchema()
    ).build()
    assert typed.spec.topics.topics == ["t"]


def test_default_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERRY_ADDRESS", raising=False)
    assert ferry.default_address() == "127.0.0.1:50051"
    monkeypatch.setenv("FERRY_ADDRESS", " ferry.example:443 ")
    assert ferry.default_address() == "ferry.example:443"
    # builders without an address or channel build; their sessions go there
    KafkaSource.builder().set_topics("t").build()


def test_poll_timeout_on_an_idle_source(
    test_env: TestEnv, create_topic: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """poll(timeout=...) returns [] when nothing came, as Java's poll(Duration)
    returns null, and the session goes on; the ferry comes from FERRY_ADDRESS."""
    topic = create_topic("py-idle", 1)
    monkeypatch.setenv("FERRY_ADDRESS", test_env.ferry_addr)
    source = KafkaSource.builder().set_topics(topic).set_value_only_deserializer(SimpleStringSchema()).build()
    with source.open(timeout=30) as reader:
        start = time.monotonic()
        assert reader.poll(10, timeout=0.3) == []
        assert reader.poll(10, timeout=timedelta(milliseconds=300)) == []
        assert time.monotonic() - start < 10
        assert not reader.ended
        sink = KafkaSink.builder().set_record_serializer(
            KafkaRecordSerializationSchema.builder().set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema()).build()
        ).set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()
        with sink.open(timeout=30) as writer:
            writer.write("late")
        got = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            got = reader.poll(10, timeout=1.0)
        assert [r.value for r in got] == ["late"]

