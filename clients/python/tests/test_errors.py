"""Bad input must fail with the documented status code and a message that
names the offending field."""

from __future__ import annotations

import grpc
import pytest

import ferry
from ferry.v1 import common_pb2, service_pb2_grpc, sink_pb2, source_pb2
from streams import BidiStream


def test_source_open_without_subscription_is_invalid_argument(channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.SourceServiceStub(channel)
    with BidiStream[source_pb2.ReadRequest, source_pb2.ReadResponse](stub.Read, deadline_s=30) as stream:
        stream.send(
            source_pb2.ReadRequest(
                open=source_pb2.OpenSource(
                    spec=source_pb2.SourceSpec(boundedness=source_pb2.BOUNDEDNESS_BOUNDED)
                )
            )
        )
        end = stream.expect_end(what="INVALID_ARGUMENT for a spec without a subscription")
    assert end.code == grpc.StatusCode.INVALID_ARGUMENT, f"got {end}"
    assert "subscription" in end.details, f"message does not name the field: {end}"


def test_sink_records_before_open_is_failed_precondition(channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.SinkServiceStub(channel)
    with BidiStream[sink_pb2.WriteRequest, sink_pb2.WriteResponse](stub.Write, deadline_s=30) as stream:
        stream.send(
            sink_pb2.WriteRequest(
                records=sink_pb2.WriteBatch(
                    sequence=1,
                    records=[sink_pb2.SinkRecord(topic="never-written", value=b"x")],
                )
            )
        )
        end = stream.expect_end(what="FAILED_PRECONDITION for records before open")
    assert end.code == grpc.StatusCode.FAILED_PRECONDITION, f"got {end}"
    assert "open" in end.details, f"message does not name the missing open: {end}"


def test_sink_close_before_open_is_failed_precondition(channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.SinkServiceStub(channel)
    with BidiStream[sink_pb2.WriteRequest, sink_pb2.WriteResponse](stub.Write, deadline_s=30) as stream:
        stream.send(sink_pb2.WriteRequest(close=common_pb2.Close()))
        end = stream.expect_end(what="FAILED_PRECONDITION for close before open")
    assert end.code == grpc.StatusCode.FAILED_PRECONDITION, f"got {end}"
    assert "open" in end.details, f"message does not name the missing open: {end}"


def test_connect_rejects_empty_address() -> None:
    with pytest.raises(ValueError):
        ferry.connect("")


def test_source_checkpoint_before_open_is_failed_precondition(channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.SourceServiceStub(channel)
    with BidiStream[source_pb2.ReadRequest, source_pb2.ReadResponse](stub.Read, deadline_s=30) as stream:
        stream.send(source_pb2.ReadRequest(checkpoint=common_pb2.Checkpoint(checkpoint_id=1)))
        end = stream.expect_end(what="FAILED_PRECONDITION for checkpoint before open")
    assert end.code == grpc.StatusCode.FAILED_PRECONDITION, f"got {end}"
    assert "open" in end.details, f"message does not name the missing open: {end}"
