"""The sandbox as a vendor leaves it: `make run`, provider-certify, then nobody touches it.

A sandbox of its own with the agents' own heartbeat and visit settings (the shared e2e
sandbox heartbeats every second for its offline scenarios, and other tests leave faults
and moved locks behind), so what is measured is what `make run` costs when idle.
`make chaos` soaks it for 10 minutes, `make test` for 30 s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from firmware_bridge.simulator.lock import BATTERY_PER_REQUEST
from tests.e2e.seam import run_kit, virtual_locks, wait_until_serving
from tests.live import LiveSandbox

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
AGENTS = 2  # the sandbox's two bridges

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("idle_sandbox"),
              pytest.mark.timeout(int(SOAK_SECONDS) + 420)]


@pytest.fixture(scope="module")
def kit_run_sandbox(tmp_path_factory):
    with LiveSandbox(tmp_path_factory.mktemp("idle-sandbox")) as sandbox:
        wait_until_serving(sandbox)
        out = tmp_path_factory.mktemp("idle-certify")
        waits = ["--action-timeout", "20", "--webhook-timeout", "30", "--retry-timeout", "45"]
        completed = run_kit(sandbox.base_url, out, waits)
        assert completed.returncode == 0, completed.stdout[-3000:]
        time.sleep(12)  # the kit's last links close (idle disconnect: 10 s)
        yield sandbox


def _agent_cpu_seconds(sandbox) -> float:
    """User + system CPU time of the sandbox's bridge agents so far (Linux /proc)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == sandbox.process.pid and "firmware_bridge.agent" in cmdline:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _batteries(sandbox) -> dict[str, float]:
    answer = virtual_locks(sandbox.var_dir, {"op": "locks"})
    return {lock["lock_id"]: lock["battery"] for lock in answer["locks"]}


def test_an_idle_sandbox_after_a_kit_run_keeps_its_battery_and_is_quiet(kit_run_sandbox):
    """No lock loses charge beyond its idle visits, and the agents use under 2 % of a CPU
    each (a loop on one lock would take 15-80 %)."""
    sandbox = kit_run_sandbox
    before, cpu_before, started = _batteries(sandbox), _agent_cpu_seconds(sandbox), time.monotonic()
    time.sleep(SOAK_SECONDS)  # the soak itself: the observation window, not a synchronisation
    after, cpu_used = _batteries(sandbox), _agent_cpu_seconds(sandbox) - cpu_before
    elapsed = time.monotonic() - started
    print(f"agents: {cpu_used:.2f} s of CPU in {elapsed:.1f} s")
    assert cpu_used / elapsed < 0.02 * AGENTS, (cpu_used, elapsed)
    # What the visits of an idle lock may cost: a few requests every poll interval (15 s).
    allowed = (elapsed / 15 + 1) * 5 * BATTERY_PER_REQUEST
    for lock_id, level in before.items():
        assert level - after[lock_id] <= allowed, (lock_id, level, after[lock_id])
