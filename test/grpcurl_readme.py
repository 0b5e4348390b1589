"""Runs the grpcurl session of README.md, exactly as written, against a fresh
`ferry serve` with its embedded broker (what `make run` starts), and checks
every output the README shows, so that the README cannot drift.

Usage: python3 test/grpcurl_readme.py   (from the repository root, after
`make build` and with grpcurl in .cache/bin, both done by `make test`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

README_ADDR = "127.0.0.1:50051"

# What each command must show beyond what the README prints after it.
EXTRA = {
    "describe ferry.v1.SourceService": ["rpc Read ( stream .ferry.v1.ReadRequest ) returns ( stream .ferry.v1.ReadResponse )"],
    "ferry.v1.SourceService/Read": ['"endOfInput": {}', '"value": "aGVsbG8="', '"key": "azE="', '"splitFinished"'],
}


def session(readme: str) -> list[tuple[str, str | None, str]]:
    """Returns (command, stdin, expected output) for each `$ ` line of the
    first sh block after "## A grpcurl session"."""
    block = readme.split("## A grpcurl session", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    out: list[tuple[str, str | None, str]] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        cmd = lines[i][2:]
        while cmd.endswith("\\"):
            i += 1
            cmd = cmd[:-1] + " " + lines[i].strip()
        i += 1
        stdin = None
        m = re.search(r"<<'(\w+)'", cmd)
        if m:
            body = []
            while lines[i] != m.group(1):
                body.append(lines[i])
                i += 1
            i += 1
            stdin = "\n".join(body) + "\n"
            cmd = cmd[: m.start()].rstrip()
        expected = []
        while i < len(lines) and lines[i].strip() and not lines[i].startswith(("$ ", "#")):
            expected.append(lines[i])
            i += 1
        out.append((cmd, stdin, "\n".join(expected)))
    return out


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    env = dict(os.environ, PATH=os.path.join(root, ".cache", "bin") + os.pathsep + os.environ["PATH"])
    with tempfile.TemporaryDirectory() as tmp:
        addr_file = os.path.join(tmp, "addr")
        log = open(os.path.join(tmp, "ferry.log"), "w")
        ferry = subprocess.Popen(["bin/ferry", "serve", "--listen", "127.0.0.1:0", "--addr-file", addr_file],
                                 stdout=log, stderr=log)
        try:
            deadline = time.time() + 30
            addr = ""
            while time.time() < deadline:
                if os.path.exists(addr_file) and (addr := open(addr_file).read().strip()):
                    h = subprocess.run(["grpcurl", "-plaintext", addr, "grpc.health.v1.Health/Check"],
                                       capture_output=True, text=True, env=env)
                    if "SERVING" in h.stdout and "NOT_SERVING" not in h.stdout:
                        break
                time.sleep(0.1)
            else:
                print("ferry did not become SERVING; log:", open(log.name).read())
                return 1
            cmds = session(open("README.md").read())
            failed = 0
            for cmd, stdin, expected in cmds:
                run = cmd.replace(README_ADDR, addr)
                r = subprocess.run(["bash", "-c", run], input=stdin, capture_output=True, text=True, env=env, timeout=60)
                problems = []
                if r.returncode != 0:
                    problems.append(f"exit status {r.returncode}: {r.stderr.strip()}")
                if expected:
                    pattern = ".*?".join(re.escape(part) for part in squash(expected).split("…"))
                    if not re.fullmatch(pattern, squash(r.stdout)):
                        problems.append(f"output differs from the README:\n--- README\n{expected}\n--- got\n{r.stdout}")
                for key, wants in EXTRA.items():
                    if key in cmd:
                        problems += [f"output lacks {w!r}:\n{r.stdout}" for w in wants if w not in r.stdout]
                status = "ok" if not problems else "FAILED"
                print(f"grpcurl-readme: {status}: {cmd[:100]}")
                for p in problems:
                    print("   ", p)
                failed += bool(problems)
            print(f"grpcurl-readme: {len(cmds) - failed} passed, {failed} failed")
            return 1 if failed or not cmds else 0
        finally:
            ferry.terminate()
            ferry.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
