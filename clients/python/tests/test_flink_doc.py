"""Every Python snippet of Flink's Kafka connector document
(``clients/flink-docs``) runs against ferry's facade with only PyFlink's
imports changed, against the ferry under test.

The test takes the snippets out of the document (every fenced block; a block
in a language other than Java or Python fails the test, so none is skipped
unseen) and runs each with ``exec`` after PyFlink's imports ported to ferry's
(:data:`PYFLINK_IMPORTS`, module names changed only). The ferry is named once,
by the environment variable FERRY_ADDRESS; no snippet names it. What the
snippets take as given is declared once: ``brokers`` (the broker under test,
which ferry may name), ``env`` and ``stream`` (stand-ins for PyFlink's
runtime, :mod:`flinkdoc_shim`). Two changes to the text, both reported:

* the document's placeholder ``<your-topic-selection-logic>`` is filled in
  (:data:`PLACEHOLDERS`);
* a snippet that is not valid Python as printed (the document continues
  method chains with backslashes across comment lines, which Python allows
  only inside brackets) is run inside parentheses.

A snippet whose last statement is an expression has its value looked at, as
the Java test does: a ``KafkaSource`` builder is completed with what the
snippet leaves out and a program adds before ``build()`` (a subscription to
``input-topic`` when it has none), bounded at the latest offsets, built,
opened and read to its end ("opened"), unless its properties are the
document's placeholder security settings ("built"); a record serialization
schema serializes an element and a sink with it writes it through ferry
("written")."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

import grpc
import pytest

import flinkdoc_shim
from conftest import TestEnv, _java
from ferry.flink import (
    DeliveryGuarantee,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSourceBuilder,
    SimpleStringSchema,
)

DOC = Path(
    os.environ.get("FERRY_FLINK_DOC")
    or Path(__file__).resolve().parents[2] / "flink-docs" / "flink-kafka-connector.zh.md"
)

# PyFlink's imports of a program with these snippets; the test runs them with
# the module names ported (the only change to a PyFlink program).
PYFLINK_IMPORTS = """\
from pyflink.common import SimpleStringSchema, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (KafkaOffsetResetStrategy, KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema, KafkaSink, KafkaSource, KafkaTopicPartition)
"""
PORTED_MODULES = {
    "pyflink.common": "ferry.flink",
    "pyflink.datastream.connectors.base": "ferry.flink",
    "pyflink.datastream.connectors.kafka": "ferry.flink",
    # Flink's runtime, which ferry does not have: the test's stand-ins.
    "pyflink.datastream": "flinkdoc_shim",
}

PLACEHOLDERS = {"<your-topic-selection-logic>": '"topic-name"'}

# Topics the snippets name, with the partitions they need (topic-b has a partition 5).
TOPICS = {"input-topic": 3, "topic-a": 1, "topic-b": 6, "topic-name": 3}
INPUT_TOPIC = "input-topic"

# A fence: backticks and an info string (the language) without backticks (CommonMark).
FENCE = re.compile(r"^(\s*)```\s*([^`\s]*)\s*$")
CLOSE = re.compile(r"^\s*```\s*$")
WAIT_S = 30.0


@dataclass(frozen=True)
class Snippet:
    language: str
    line: int
    heading: str
    code: str


def fenced_blocks(text: str) -> List[Snippet]:
    """Every fenced block of the markdown text, dedented by its fence's indentation."""
    lines = text.split("\n")
    out: List[Snippet] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        m = FENCE.match(line)
        if m is None:
            i += 1
            continue
        indent = len(m.group(1))
        start = i + 1
        body: List[str] = []
        i += 1
        while i < len(lines) and not CLOSE.match(lines[i]):
            body_line = lines[i]
            cut = min(indent, len(body_line) - len(body_line.lstrip()))
            body.append(body_line[cut:])
            i += 1
        assert i < len(lines), f"the fence at line {start} is never closed"
        out.append(Snippet(m.group(2).lower(), start, heading, "\n".join(body) + "\n"))
        i += 1
    return out


def python_snippets() -> List[Snippet]:
    assert DOC.is_file(), f"Flink's Kafka connector document is not at {DOC} (set FERRY_FLINK_DOC)"
    blocks = fenced_blocks(DOC.read_text(encoding="utf-8"))
    unrun = [b for b in blocks if b.language not in ("java", "python")]
    assert not unrun, f"blocks no test runs: {unrun}"
    return [b for b in blocks if b.language == "python"]


def ported_imports() -> str:
    out = PYFLINK_IMPORTS
    # Longest module names first, so that pyflink.datastream.connectors.* win over pyflink.datastream.
    for flink, ferry in sorted(PORTED_MODULES.items(), key=lambda kv: -len(kv[0])):
        out = re.sub(rf"^from {re.escape(flink)} import", f"from {ferry} import", out, flags=re.M)
    return out


def parse(code: str) -> Tuple[ast.Module, bool]:
    """The snippet's syntax tree, and whether it had to be put in parentheses."""
    try:
        return ast.parse(code), False
    except SyntaxError:
        return ast.parse("(\n" + code + "\n)"), True


def inspect(value: Any) -> str:
    """What ran of a snippet's value (see the module's docstring)."""
    if value is None:
        return "ran"
    if isinstance(value, flinkdoc_shim.DataStream):
        return f"ran: env.from_source gave a stream of {len(value.elements)} elements"
    if isinstance(value, KafkaSourceBuilder):
        added = []
        try:
            value.set_topics(INPUT_TOPIC)
            added.append(f'set_topics("{INPUT_TOPIC}")')
        except ValueError:
            pass  # the snippet's own subscription stays
        value.set_bounded(KafkaOffsetsInitializer.latest())
        added.append("set_bounded(latest)")
        source = value.build()
        spec = source.spec
        if "security.protocol" in spec.properties:
            return (
                f"built (completed with {', '.join(added)}); not opened: its security properties "
                "are the document's placeholders (users, passwords, files)"
            )
        with source.open(timeout=WAIT_S) as reader:
            values = [r.value for r in reader]
        sub = (
            f"topics {list(spec.topics.topics)}"
            if spec.HasField("topics")
            else f"topic pattern {spec.topic_pattern}"
            if spec.topic_pattern
            else f"partitions {[(p.topic, p.partition) for p in spec.partitions.partitions]}"
        )
        first = f", the first value {values[0]!r}" if values else ""
        return f"opened (completed with {', '.join(added)}): spec {sub}, read {len(values)} records{first}"
    if isinstance(value, KafkaRecordSerializationSchema):
        record = value.serialize("ferry-doc-element")
        sink = KafkaSink.builder().set_record_serializer(value).build()
        with sink.open(timeout=WAIT_S) as writer:
            writer.write("ferry-doc-element")
            written = writer.close()
        assert written == 1, f"a sink with the schema wrote {written} records, not 1"
        return (
            f"written: serialize('ferry-doc-element') gave topic {record.topic}, key {record.key!r}, "
            f"value {record.value!r}; a sink with it wrote it through ferry"
        )
    return f"ran, gave {type(value).__name__}"


def run_snippet(snippet: Snippet, imports: str, brokers: str) -> Tuple[str, bool]:
    """Runs one snippet after the ported imports; returns what ran and
    whether it was put in parentheses."""
    code = snippet.code
    for placeholder, fill in PLACEHOLDERS.items():
        code = code.replace(placeholder, fill)
    tree, parenthesized = parse(code)
    env = flinkdoc_shim.StreamExecutionEnvironment.get_execution_environment()
    namespace: Dict[str, Any] = {
        "brokers": brokers,
        "env": env,
        "stream": env.from_collection(["ferry-doc-1", "ferry-doc-2", "ferry-doc-3"]),
    }
    exec(compile(imports, "<PyFlink imports, ported>", "exec"), namespace)
    name = f"{DOC.name}:{snippet.line}"
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        exec(compile(ast.Module(body=tree.body[:-1], type_ignores=[]), name, "exec"), namespace)
        value = eval(compile(ast.Expression(body=last.value), name, "eval"), namespace)
    else:
        exec(compile(tree, name, "exec"), namespace)
        value = None
    return inspect(value), parenthesized


def _create_topics(test_env: TestEnv) -> None:
    for topic, partitions in TOPICS.items():
        proc = subprocess.run(
            [_java(), "-cp", test_env.kafka_classpath, "org.apache.kafka.tools.TopicCommand",
             "--bootstrap-server", test_env.kafka, "--create", "--if-not-exists", "--topic", topic,
             "--partitions", str(partitions), "--replication-factor", "1"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert proc.returncode == 0, f"creating {topic}: {proc.stdout}{proc.stderr}"


def test_every_python_snippet_runs(
    test_env: TestEnv, channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    snippets = python_snippets()
    assert len(snippets) >= 11, f"expected the document's 11 Python snippets, found {len(snippets)}"
    _create_topics(test_env)
    inputs = [f"ferry-doc-input-{i}" for i in range(20)]
    fill = (
        KafkaSink.builder()
        .set_channel(channel)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(INPUT_TOPIC)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    with fill.open(timeout=WAIT_S) as writer:
        writer.write_batch(inputs)

    # The ferry is named once, by FERRY_ADDRESS.
    monkeypatch.setenv("FERRY_ADDRESS", test_env.ferry_addr)
    imports = ported_imports()
    flinkdoc_shim.NOTES.clear()
    report: List[str] = []
    failures: List[str] = []
    for n, snippet in enumerate(snippets, 1):
        sid = f"python-{n:02d} ({snippet.heading}, line {snippet.line})"
        try:
            what, parenthesized = run_snippet(snippet, imports, test_env.kafka)
        except Exception as err:  # noqa: BLE001 - every failure is reported with its snippet
            failures.append(f"{sid}: {type(err).__name__}: {err}")
            report.append(f"RESULT {sid} FAILED {type(err).__name__}: {err}")
            continue
        report.append(f"RESULT {sid} ok {what}" + (" [run in parentheses]" if parenthesized else ""))
    with capsys.disabled():
        print(f"\nFlink document, Python snippets ({len(snippets)}), as run against ferry:")
        for line in report + [f"NOTE {note}" for note in flinkdoc_shim.NOTES]:
            print("  " + line)
    assert not failures, "\n".join(failures)
    # The stand-ins' work: the usage snippet read the input, the sink snippet wrote its stream.
    reads = [n for n in flinkdoc_shim.NOTES if n.startswith('env.from_source("Kafka Source")')]
    assert reads and int(reads[0].split("read ")[1].split()[0]) >= len(inputs), flinkdoc_shim.NOTES
    assert "stream.sink_to(sink): 3 elements, Kafka acknowledged 3" in flinkdoc_shim.NOTES


def test_pyflink_imports_are_ferrys() -> None:
    """Every name of PyFlink's imports above is one of ferry.flink's (or the stand-ins')."""
    namespace: Dict[str, Any] = {}
    exec(ported_imports(), namespace)
    assert {"KafkaSource", "KafkaTopicPartition", "KafkaOffsetResetStrategy", "SimpleStringSchema"} <= set(namespace)
