"""The package as users get it: the wheel and sdist build (``python -m
build``, the wheel from the sdist), pass ``twine check --strict``, carry the
license and metadata, and the wheel installed into a fresh venv (with its
dependencies from the package index) imports and makes a round trip through
the ferry under test, named only by FERRY_ADDRESS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Callable, List

import pytest

from conftest import TestEnv

PROJECT = Path(__file__).resolve().parents[1]

ROUND_TRIP = """
import json, sys
import ferry
from ferry import (DeliveryGuarantee, KafkaOffsetsInitializer, KafkaRecordSerializationSchema,
                   KafkaSink, KafkaSource, SimpleStringSchema)
topic = sys.argv[1]
sink = (KafkaSink.builder()
        .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                               .set_value_serialization_schema(SimpleStringSchema()).build())
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
with sink.open(timeout=30) as writer:
    writer.write_batch(["a", "b", "c"])
source = (KafkaSource.builder().set_topics(topic)
          .set_bounded(KafkaOffsetsInitializer.latest())
          .set_value_only_deserializer(SimpleStringSchema()).build())
with source.open(timeout=30) as reader:
    values = sorted(r.value for r in reader)
print(json.dumps({"file": ferry.__file__, "version": ferry.__version__, "values": values}))
"""


def _run(cmd: List[str], timeout: float = 300, **kwargs: object) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return str(proc.stdout)


def test_wheel_and_sdist(test_env: TestEnv, create_topic: Callable[..., str], tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # --no-isolation: the build backend is the development venv's pinned setuptools.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(PROJECT)])
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(dist.iterdir())
    _run([sys.executable, "-m", "twine", "check", "--strict", str(wheels[0]), str(sdists[0])])

    with zipfile.ZipFile(wheels[0]) as whl:
        names = set(whl.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(whl.read(meta_name).decode())
    assert {"ferry/py.typed", "ferry/flink/source.py", "ferry/v1/source_pb2.pyi"} <= names, sorted(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    assert meta["License-Expression"] == "Apache-2.0"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls), urls
    assert meta["Summary"] and meta["Requires-Python"]
    assert not any(n.startswith(("tests/", "examples/")) for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", str(wheels[0])], timeout=600)
    topic = create_topic("py-package", 1)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["FERRY_ADDRESS"] = test_env.ferry_addr
    out = json.loads(_run([python, "-c", ROUND_TRIP, topic], env=env, cwd=str(tmp_path)).strip().splitlines()[-1])
    assert out["file"].startswith(str(venv)), f"imported from {out['file']}, not the fresh venv"
    assert out["values"] == ["a", "b", "c"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
