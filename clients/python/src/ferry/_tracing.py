"""Carries the caller's OpenTelemetry trace context to ferry.

When the ``opentelemetry`` package is installed (it is no dependency of this
one), a session's call sends what its propagators inject for the current
context, by default the W3C ``traceparent``, ``tracestate`` and ``baggage``
headers, as gRPC metadata: ferry's spans of the session (and the Kafka produce
and fetch spans under them) then belong to the caller's trace. Without
``opentelemetry``, or without a current span, nothing is added."""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional, Tuple

# opentelemetry.propagate once imported, False when it cannot be, None before
# the first call.
_propagate: Any = None


def _load() -> Any:
    global _propagate
    if _propagate is None:
        try:
            _propagate = importlib.import_module("opentelemetry.propagate")
        except ImportError:
            _propagate = False
    return _propagate


def metadata() -> Optional[List[Tuple[str, str]]]:
    """The gRPC metadata that carries the current trace context, or None when
    there is nothing to carry (no current span, or no ``opentelemetry``)."""
    propagate = _load()
    if not propagate:
        return None
    carrier: Dict[str, str] = {}
    propagate.inject(carrier)
    # gRPC metadata keys are lower case; the W3C ones already are.
    return [(k.lower(), v) for k, v in carrier.items()] or None
