"""The pictures of `make bench`: PNGs under docs/img/, drawn from the run's rows.

Each figure is drawn only from rows the run produced (a module that failed or was
skipped leaves its figure out); `markdown_images` lists what was written so the
document embeds exactly those. matplotlib renders off-screen (Agg): no display needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

Rows = list[dict[str, Any]]

PROVIDER = "#1f5fa8"
BARE = "#9aa5b1"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _value(rows: Rows, benchmark: str, metric: str) -> float | None:
    for r in rows:
        if r.get("benchmark") == benchmark and r.get("metric") == metric and isinstance(r.get("value"), int | float):
            return float(r["value"])
    return None


def _matching(rows: Rows, benchmark: str, pattern: str) -> list[tuple[re.Match[str], float]]:
    regex = re.compile(pattern)
    found = []
    for r in rows:
        if r.get("benchmark") != benchmark or not isinstance(r.get("value"), int | float):
            continue
        match = regex.fullmatch(str(r.get("metric", "")))
        if match:
            found.append((match, float(r["value"])))
    return found


def _colours(names: list[str]) -> list[str]:
    """The bare-Flask baseline grey, the provider's rows blue."""
    return [BARE if name.startswith("bare") else PROVIDER for name in names]


def api_latency(rows: Rows, plt: Any) -> Any | None:
    """p50 and p99 at half of peak, each endpoint of the provider beside bare Flask."""
    found = _matching(rows, "api", r"(.+): (p50|p99) at half of peak")
    if not found:
        return None
    names: list[str] = []
    values: dict[tuple[str, str], float] = {}
    for match, value in found:
        name, pct = match.group(1), match.group(2)
        if name not in names:
            names.append(name)
        values[(name, pct)] = value
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.7 * len(names)))
    ys = range(len(names))
    for offset, pct, alpha in ((-0.18, "p50", 1.0), (0.18, "p99", 0.55)):
        widths = [values.get((n, pct), 0.0) for n in names]
        ax.barh([y + offset for y in ys], widths, height=0.34, color=_colours(names), alpha=alpha, label=pct)
    ax.set_yticks(list(ys), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency at half of peak throughput (ms); solid p50, pale p99")
    ax.set_title("Provider endpoints beside bare Flask, same server and load generator")
    return fig


def api_throughput(rows: Rows, plt: Any) -> Any | None:
    found = _matching(rows, "api", r"(.+): peak throughput")
    if not found:
        return None
    names = [m.group(1) for m, _ in found]
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.5 * len(names)))
    ax.barh(names, [v for _, v in found], color=_colours(names))
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("peak throughput (requests/s)")
    ax.set_title("Peak throughput")
    return fig


def scale_pages(rows: Rows, plt: Any) -> Any | None:
    """Cost against page size and table size: a flat line per page size means rows do not matter."""
    found = _matching(rows, "scale", r"phase (\d): 10,000-lock owner, page of (\d+) (p50|p99)")
    if not found:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for phase in sorted({m.group(1) for m, _ in found}):
        for pct, style in (("p50", "-o"), ("p99", "--s")):
            points = sorted((int(m.group(2)), v) for m, v in found if m.group(1) == phase and m.group(3) == pct)
            if points:
                ax.plot(*zip(*points, strict=True), style, label=f"phase {phase} {pct}")
    ax.set_xscale("log")
    ax.set_xlabel("page size (locks)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("A 10,000-lock owner's pages; phase 2 holds 10x the rows of phase 1")
    ax.legend(fontsize=8)
    return fig


def webhook_throughput(rows: Rows, plt: Any) -> Any | None:
    found = _matching(rows, "webhooks", r"backlog of \d+ events \((\d+) dispatchers?, (\w+)\)")
    if not found:
        return None
    labels = [f"{m.group(1)} on {m.group(2)}" for m, _ in found]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(labels, [v for _, v in found], color=PROVIDER)
    ceiling = _value(rows, "webhooks", "receiver ceiling")
    if ceiling is not None:
        ax.axhline(ceiling, color="#c0392b", linestyle="--", label="receiver's own ceiling")
        ax.legend(fontsize=8)
    ax.set_ylabel("events delivered per second")
    ax.set_title("Webhook fan-out against the number of dispatchers")
    return fig


def fleet_bridges(rows: Rows, plt: Any) -> Any | None:
    """Seam's GET /locks p99 against the number of bridges holding a connection."""
    points = [(int(m.group(1).replace(",", "")), v)
              for m, v in _matching(rows, "fleet", r"HTTP: GET /locks p99 with ([\d,]+) long-polling bridges")]
    baseline = _value(rows, "fleet", "GET /locks p99, no bridges")
    if baseline is not None:
        points.append((0, baseline))
    if len(points) < 2:
        return None
    points.sort()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(*zip(*points, strict=True), "-o", color=PROVIDER, label="HTTP long-poll")
    mqtt = _value(rows, "fleet", "GET /locks p99, MQTT fleet connected")
    bridges = _value(rows, "fleet", next((r["metric"] for r in rows if r.get("benchmark") == "fleet"
                                          and str(r.get("metric", "")).startswith("MQTT: bridges online")), ""))
    if mqtt is not None and bridges:
        ax.plot([bridges], [mqtt], "s", color="#27ae60", label="MQTT fleet")
    ax.set_xlabel("connected bridges")
    ax.set_ylabel("GET /locks p99 (ms)")
    ax.set_title("Seam's lock list while the fleet is connected")
    ax.legend(fontsize=8)
    return fig


#: (file, caption, the bench module whose rows it draws, how)
FIGURES: list[tuple[str, str, str, Callable[[Rows, Any], Any | None]]] = [
    ("bench-api-latency.png", "API latency, provider beside bare Flask", "api", api_latency),
    ("bench-api-throughput.png", "Peak throughput", "api", api_throughput),
    ("bench-scale-pages.png", "Cost against page size and table size", "scale", scale_pages),
    ("bench-webhooks.png", "Webhook throughput against dispatchers", "webhooks", webhook_throughput),
    ("bench-fleet.png", "GET /locks p99 against connected bridges", "fleet", fleet_bridges),
]


def draw(rows: Rows, directory: Path) -> list[tuple[str, str]]:
    """Writes every figure the rows allow; returns (file name, caption) of each written."""
    plt = _pyplot()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, caption, _module, figure in FIGURES:
        fig = figure(rows, plt)
        if fig is None:
            continue
        fig.tight_layout()
        fig.savefig(directory / name, dpi=110)
        plt.close(fig)
        written.append((name, caption))
    return written


def markdown_images(written: list[tuple[str, str]], relative_to: str = "img") -> str:
    return "\n\n".join(f"![{caption}]({relative_to}/{name})" for name, caption in written)


def rows_from_markdown(text: str) -> Rows:
    """The rows of a document `make bench` wrote (its "### <benchmark>" tables), to redraw
    its figures without a new run: `python -m bench.plots docs/benchmarks.md`."""
    rows: Rows = []
    benchmark = None
    for line in text.splitlines():
        if line.startswith("### "):
            benchmark = line[4:].split(" (", 1)[0].strip()
            continue
        if benchmark is None or not line.startswith("| ") or line.startswith(("| metric", "| ---")):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 3:
            continue
        try:
            value: float | None = float(cells[1].replace(",", ""))
        except ValueError:
            value = None
        rows.append({"benchmark": benchmark, "metric": cells[0].replace("\\|", "|"), "value": value,
                     "unit": cells[2]})
    return rows


if __name__ == "__main__":
    import sys

    document = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks.md")
    for name, _caption in draw(rows_from_markdown(document.read_text()), document.parent / "img"):
        print(document.parent / "img" / name)
