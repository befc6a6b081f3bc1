"""The figures of `make bench` and of `firmware-bridge bench --plot`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bench import plots
from bench.common import ROOT
from firmware_bridge.cli import main as firmware_bridge

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_figure_is_drawn_from_the_rows_of_the_last_run(tmp_path):
    """The metric names the figures read are those the bench modules wrote (docs/benchmarks.md):
    each module with rows in the document gets its figures."""
    rows = plots.rows_from_markdown((ROOT / "docs" / "benchmarks.md").read_text())
    measured = {r["benchmark"] for r in rows if r["value"] is not None}
    written = plots.draw(rows, tmp_path)
    assert [name for name, _ in written] == [name for name, _, module, _ in plots.FIGURES if module in measured]
    assert {"api", "webhooks"} <= measured
    for name, _ in written:
        assert (tmp_path / name).read_bytes().startswith(PNG)
    assert plots.markdown_images(written).count("](img/bench-") == len(written)


def test_a_module_without_rows_leaves_its_figure_out(tmp_path):
    rows = [r for r in plots.rows_from_markdown((ROOT / "docs" / "benchmarks.md").read_text())
            if r["benchmark"] != "webhooks"]
    names = [name for name, _ in plots.draw(rows, tmp_path)]
    assert "bench-webhooks.png" not in names and "bench-api-latency.png" in names
    assert not (tmp_path / "bench-webhooks.png").exists()


def test_the_lock_bench_draws_its_steps(tmp_path: Path):
    out = tmp_path / "lock.png"
    result = CliRunner().invoke(firmware_bridge, ["bench", "--virtual", "-n", "2", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
