"""The protocol between `make bench` (test/bench/main.go, runClient) and its
external Python clients, shared by client_read.py, client_write.py,
facade_read.py and facade_write.py (imported from the script's directory).

A client first does FERRY_BENCH_WARMUPS runs (default 0 when unset; the bench
passes its -client-warmups, 2 by default) in its own process, then prints the
line ``timed`` (flushed: the bench starts measuring ferry's CPU when it reads
it), does the measured run and prints last::

    records=N bytes=B seconds=S cpu=C cold_seconds=X

N and B are the measured run's records and value bytes, S its wall seconds,
C the CPU seconds of this process (user + system, all threads) during it, and
X the wall seconds of the first run in the process: the first warm-up, or the
measured run itself when there is none.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Callable, Tuple

# A run: returns (records, value bytes).
Run = Callable[[], Tuple[int, int]]


def warmups() -> int:
    """FERRY_BENCH_WARMUPS, 0 when unset."""
    n = int(os.environ.get("FERRY_BENCH_WARMUPS", "0"))
    if n < 0:
        raise ValueError(f"FERRY_BENCH_WARMUPS must be >= 0, got {n}")
    return n


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main(warmup: Run, measured: Run) -> None:
    """Runs warmup FERRY_BENCH_WARMUPS times, prints ``timed``, runs measured
    and prints its line."""
    cold = None
    for _ in range(warmups()):
        start = time.perf_counter()
        warmup()
        if cold is None:
            cold = time.perf_counter() - start
    print("timed", flush=True)
    cpu0 = _cpu()
    start = time.perf_counter()
    records, nbytes = measured()
    seconds = time.perf_counter() - start
    cpu = _cpu() - cpu0
    if cold is None:
        cold = seconds
    print(f"records={records} bytes={nbytes} seconds={seconds:.3f} cpu={cpu:.3f} cold_seconds={cold:.3f}", flush=True)
