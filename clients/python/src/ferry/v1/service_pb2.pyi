from ferry.v1 import sink_pb2 as _sink_pb2
from ferry.v1 import source_pb2 as _source_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
