"""The error every failed ferry stream raises."""

from __future__ import annotations

import grpc


class FerryError(Exception):
    """A ferry stream ended with an error.

    Attributes:
        code: The gRPC status code (``grpc.StatusCode``).
        message: The status message; for ``INVALID_ARGUMENT`` it names the
            field and the rule.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
