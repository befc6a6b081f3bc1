"""`python -m bench` (`make bench`): every benchmark, one table, docs/benchmarks.md.

    python -m bench [--quick] [--only api,scale] [--output docs/benchmarks.md]

The figures go to img/ beside the document (docs/img/bench-*.png), drawn from the same rows.

Each module runs in its own process (`python -m bench.<name> --json …`), so one
that crashes or hangs costs its own rows, not the run; its failure becomes a
row saying so. The document is written only by a full run (no --only), so that
it always holds the figures of one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import plots
from bench.common import ROOT, row
from bench.report import format_table, markdown, now

# Order matters only for reading: the API first, the long runs last.
MODULES = [
    ("api", "issue 8"),
    ("read_cache", "hot paths"),
    ("scale", "issue 8"),
    ("memory", "issue 8"),
    ("webhooks", "issue 4"),
    ("e2e_unlock", "issue 6"),
    ("fleet", "issue 13"),
    ("fuzz", "issue 8"),
    ("firmware", "issue 19"),
    ("factory", "device lifecycle"),
]
MODULE_TIMEOUT = 1800  # seconds; the scale seeding alone takes a few minutes on 2 cores

INTRO = """
What the provider costs next to what the machine allows. Each API figure is
measured side by side with a bare Flask app served the same way, by the same
load generator, in the same run; scale figures come from a PostgreSQL database
seeded for the run with 100,000 locks and 1,000,000 access codes.
"""


def _run_module(name: str, owner: str, quick: bool) -> list[dict]:
    if not (ROOT / "bench" / f"{name}.py").exists():
        return [row(name, "skipped", None, note=f"bench/{name}.py not written yet ({owner})")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        argv = [sys.executable, "-m", f"bench.{name}", "--json", str(out)]
        if quick:
            argv.append("--quick")
        print(f"== bench.{name}", flush=True)
        try:
            proc = subprocess.run(argv, cwd=ROOT, timeout=MODULE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return [row(name, "failed", None, note=f"no result within {MODULE_TIMEOUT} s")]
        if proc.returncode != 0 or not out.exists():
            return [row(name, "failed", None, note=f"exited with {proc.returncode}; see its output above")]
        return json.loads(out.read_text())


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test of the harness)")
    parser.add_argument("--only", help="comma-separated module names")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()

    wanted = set(args.only.split(",")) if args.only else None
    started = now()
    load_at_start = _loadavg()
    rows: list[dict] = []
    for name, owner in MODULES:
        if wanted is None or name in wanted:
            rows += _run_module(name, owner, args.quick)
    finished = now()

    print()
    print(format_table(rows))
    if wanted is None:
        command = "make bench" + (" (python -m bench --quick)" if args.quick else "")
        analysis_path = ROOT / "bench" / "analysis.md"
        method_path = ROOT / "bench" / "method.md"
        intro = INTRO + f"\nLoad average (1/5/15 min) when the run started: {load_at_start}.\n"
        output = Path(args.output)
        written = plots.draw(rows, output.parent / "img")
        text = markdown(
            rows, started=started, finished=finished, command=command, intro=intro,
            method=method_path.read_text() if method_path.exists() else "",
            analysis=analysis_path.read_text() if analysis_path.exists() else "",
            figures=plots.markdown_images(written),
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
