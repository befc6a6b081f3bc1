"""The long schemathesis run of `make chaos`: tests/provider/test_schemathesis.py, many examples.

That test (the devices engineer's) drives every operation of openapi.yaml with
an owner's OAuth token, a bridge token and the OAuth client's credentials, on a
database holding real locks, codes and actions, and fails on any server error
(except the legacy endpoints' documented 500s) or any response that breaks the
spec. Here it runs with SCHEMATHESIS_MAX_EXAMPLES raised, and this module, loaded
as a pytest plugin (`-p bench.schemathesis_run`), counts the requests actually
sent and the statuses they got.

    python -m bench.schemathesis_run [--examples 150] [--database postgresql|sqlite|both]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT

TEST = "tests/provider/test_schemathesis.py"
_COUNTS: Counter = Counter()
_OPERATIONS: set[str] = set()


def _install_counter() -> None:
    from schemathesis import Case

    original = Case.call

    def counting_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        _COUNTS["requests"] += 1
        _COUNTS[f"status {response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            _COUNTS[f"5xx on {self.method.upper()} {self.path}"] += 1
        _OPERATIONS.add(f"{self.method.upper()} {self.path}")
        return response

    Case.call = counting_call  # type: ignore[method-assign]


def pytest_configure(config: Any) -> None:
    if os.environ.get("BENCH_ST_COUNTS"):
        _install_counter()


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = os.environ.get("BENCH_ST_COUNTS")
    if path:
        Path(path).write_text(json.dumps({"counts": dict(_COUNTS), "operations": sorted(_OPERATIONS)}))


def run(examples: int = 150, database: str = "postgresql", log: Any = print) -> dict[str, Any]:
    """Runs the test in a subprocess; returns requests, statuses, operations, failures, seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        counts_path = Path(tmp) / "counts.json"
        env = dict(os.environ, SCHEMATHESIS_MAX_EXAMPLES=str(examples), BENCH_ST_COUNTS=str(counts_path),
                   PYTHONPATH=str(ROOT))
        argv = [sys.executable, "-m", "pytest", TEST, "-q", "-n", "0", "-p", "bench.schemathesis_run",
                "-o", "addopts=", "--timeout", "3000", "-x"]
        if database != "both":
            argv += ["-k", database]
        log(f"schemathesis: {' '.join(argv[3:])} (SCHEMATHESIS_MAX_EXAMPLES={examples})")
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - start
        data = json.loads(counts_path.read_text()) if counts_path.exists() else {"counts": {}, "operations": []}
    counts = data["counts"]
    tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
    # The test reports one "METHOD /path: error" per failing operation.
    failing = sorted({m.group(0).rstrip(":") for m in re.finditer(
        r"\b(GET|POST|PUT|PATCH|DELETE) /[^\s:]*:", proc.stdout)})
    errors = sorted({m.group(0) for m in re.finditer(r"[A-Za-z.]+(Error|Exception): [^\n]{0,120}", proc.stdout)})
    return {
        "examples per operation (max)": examples,
        "database": database,
        "requests": counts.get("requests", 0),
        "statuses": {k: v for k, v in counts.items() if k.startswith("status")},
        # The test allows 5xx only on the legacy endpoints (documented HTTP 500 when the lock cannot act).
        "5xx by operation": {k[len("5xx on "):]: v for k, v in counts.items() if k.startswith("5xx on ")},
        "operations": len(data["operations"]),
        "passed": proc.returncode == 0,
        "failing operations": failing,
        "errors seen": errors[:10],
        "seconds": round(seconds, 1),
        "output": tail if proc.returncode != 0 else tail.splitlines()[-1] if tail else "",
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--database", default="postgresql", choices=["postgresql", "sqlite", "both"])
    args = parser.parse_args()
    print(json.dumps(run(args.examples, args.database), indent=2))
