"""The ferry server to use when none is given: FERRY_ADDRESS, else the
address ``make run`` listens on."""

from __future__ import annotations

import os

ADDRESS_ENV = "FERRY_ADDRESS"
"""The environment variable that names the ferry server when no address is given."""

DEFAULT_ADDRESS = "127.0.0.1:50051"
"""The address used when neither an address nor FERRY_ADDRESS is given."""


def default_address() -> str:
    """``$FERRY_ADDRESS`` when it is set and not blank, else
    ``127.0.0.1:50051``; read at each call."""
    env = os.environ.get(ADDRESS_ENV, "").strip()
    return env or DEFAULT_ADDRESS
