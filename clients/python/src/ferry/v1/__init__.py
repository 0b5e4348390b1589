"""Generated protobuf and gRPC modules of the ferry.v1 API.

The modules beside this file are produced by ``make generate`` and must not be
edited by hand:

* ``common_pb2``, ``source_pb2``, ``sink_pb2``, ``service_pb2``: messages.
* ``service_pb2_grpc``: ``SourceServiceStub`` and ``SinkServiceStub``.
"""
