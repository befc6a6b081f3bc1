"""End-to-end unlock: Seam's call -> provider -> bridge agent -> virtual lock, and back.

Two measurements in one run, so the overhead of the cloud path is plain:

* **BLE alone**: `LockClient` on the Bumble virtual link (the same stack the
  agent uses), one open session, alternating unlock/lock; plus the cost of a
  fresh connection (connect + handshake), which is what the agent pays after
  its idle disconnect.
* **Through the cloud**: a real `provider sandbox` (gunicorn web, dispatcher,
  bridge agent with virtual locks), a Seam-like client signed in with
  OAuth calling the legacy `POST /locks/<id>/unlock` (and `/lock`), which
  answers once the lock has acted: API -> command row -> agent long-poll ->
  BLE -> result -> API answer.

Seam's per-device limits (15 unlocks and 15 locks a minute) are respected by
spreading the calls over extra locks registered on the sandbox's bridge.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import latency_rows, main_for, percentile, row

BENCH = "e2e_unlock"
KEY = bytes(range(16))


async def _ble(bolt_samples: int, connect_samples: int) -> dict[str, list[float]]:
    from firmware_bridge.bumble_backend.world import VirtualWorld

    out: dict[str, list[float]] = {"bolt": [], "connect": [], "cold": []}
    async with VirtualWorld() as world:
        address = (await world.add_lock(device_key=KEY)).address
        client = world.client(address)
        await client.connect()
        await client.disconnect()  # warm-up (first connection pays imports and caches)
        for i in range(connect_samples):
            start = time.perf_counter()
            await client.connect()
            out["connect"].append(time.perf_counter() - start)
            await (client.unlock() if i % 2 == 0 else client.lock())
            out["cold"].append(time.perf_counter() - start)
            await client.disconnect()
        await client.connect()
        for i in range(bolt_samples):
            start = time.perf_counter()
            await (client.unlock() if i % 2 == 0 else client.lock())
            out["bolt"].append(time.perf_counter() - start)
        await client.disconnect()
    return out


class _QuietProvider:
    """What a `LockWorker` asks of the provider, answered at once (the policy run measures BLE)."""

    async def desired_codes(self, lock_id: str) -> dict[str, Any]:
        return {"access_codes": [], "remove": []}

    async def code_sync(self, lock_id: str, report: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    async def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return {"accepted": len(events), "duplicates": 0}


async def _policy(idle: float, gap: float, commands: int) -> dict[str, float]:
    """One agent worker, one virtual lock: `commands` unlock/lock commands `gap` seconds apart
    under an idle-disconnect of `idle` seconds. Connections made, share of the time connected,
    command latency (queued -> result)."""
    from firmware_bridge.agent.config import AgentConfig
    from firmware_bridge.agent.journal import Journal
    from firmware_bridge.agent.model import Command, LockInfo
    from firmware_bridge.agent.virtual_backend import VirtualBackend
    from firmware_bridge.agent.worker import Hooks, LockWorker

    async def _no_heartbeat() -> None:
        return None

    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        info = LockInfo("policy-lock", "Policy", "D0:4C:4B:00:CC:01", KEY, timezone="UTC")
        backend = VirtualBackend(Path(tmp), control=False)
        connector = await backend.start([info], lambda _lock_id: None)
        config = AgentConfig(provider_url="http://unused", bridge_token="unused", backend="virtual",
                             state_dir=Path(tmp), idle_disconnect=idle, poll_interval=3600,
                             reconcile_interval=3600)
        started: dict[str, float] = {}
        latencies: list[float] = []
        hooks = Hooks(report=lambda command, _result: latencies.append(
            time.perf_counter() - started[command.command_id]),
            heartbeat_now=_no_heartbeat, status_changed=lambda: None)
        worker = LockWorker(info, connector, _QuietProvider(), Journal(Path(tmp) / "journal.sqlite3"),
                            config, hooks)
        task = asyncio.create_task(worker.run())
        while worker.connects == 0 or worker.connected:  # first visit done and idle again
            await asyncio.sleep(0.01)
        connects_before = worker.connects
        connected = samples = 0
        begin = time.perf_counter()
        for n in range(commands):
            started[f"c{n}"] = time.perf_counter()
            worker.submit(Command(f"c{n}", info.lock_id, "unlock" if n % 2 == 0 else "lock", {}))
            next_at = begin + (n + 1) * gap
            while time.perf_counter() < next_at:
                connected += worker.connected
                samples += 1
                await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await backend.close()
    return {"connects per command": (worker.connects - connects_before) / commands,
            "connected share": connected / max(1, samples),
            "latency p50 ms": percentile(latencies, 50) * 1000}


def _provider(var_dir: Path, *args: str) -> str:
    env = {**os.environ, "PROVIDER_VAR_DIR": str(var_dir)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "provider.cli", *args], env=env, cwd=var_dir,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def _e2e(n_locks: int, rounds: int) -> dict[str, Any]:
    from tests.e2e.seam import SeamApi, poll, sign_in
    from tests.live import LiveSandbox

    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp, \
            LiveSandbox(Path(tmp), env={"LOG_LEVEL": "warning", "FIRMWARE_BRIDGE_LOCKS_REFRESH": "1"}) as sandbox:
        api = SeamApi(sandbox.base_url, sign_in(sandbox.base_url, "jane@example.com", "1234")["access_token"])
        locks = api.call("GET", "/locks").json()["locks"]
        bridge_id = locks[0]["bridge_id"]
        for n in range(len(locks), n_locks):
            _provider(Path(tmp), "locks", "add", "--owner", "jane@example.com", "--bridge", bridge_id,
                      "--name", f"Bench {n}", "--ble-address", f"D0:4C:4B:00:B0:{n:02X}")
        locks = api.call("GET", "/locks").json()["locks"][:n_locks]
        for lock in locks:  # served (the agent picks new locks up within a second) and connected
            poll(lambda lock=lock: api.call("GET", f"/locks/{lock['lock_id']}").json(),
                 lambda current: current.get("online"), 30)
            answer = api.call("POST", f"/locks/{lock['lock_id']}/lock", timeout=60).json()
            assert answer == {"ok": True}, f"{lock['name']}: {answer}"
        samples: list[float] = []
        failures = 0
        for _ in range(rounds):
            for action in ("unlock", "lock"):
                for lock in locks:
                    start = time.perf_counter()
                    response = api.call("POST", f"/locks/{lock['lock_id']}/{action}")
                    elapsed = time.perf_counter() - start
                    if response.status_code == 200 and response.json() == {"ok": True}:
                        samples.append(elapsed)
                    else:
                        failures += 1
        # Actions endpoint: accepted at once, final state read back.
        action_samples: list[float] = []
        for index, lock in enumerate(locks[: max(1, n_locks // 2)]):
            start = time.perf_counter()
            created = api.call("POST", f"/locks/{lock['lock_id']}/actions",
                               json={"action": "unlock", "custom_id": f"bench-{index}"}).json()
            final = poll(lambda lock=lock, created=created: api.call(
                "GET", f"/locks/{lock['lock_id']}/actions/{created['action_id']}").json(),
                lambda a: a.get("status") != "pending", 20, interval=0.02)
            if final.get("status") == "success":
                action_samples.append(time.perf_counter() - start)
        return {"legacy": samples, "failures": failures, "actions": action_samples}


def policy_rows(quick: bool) -> list[dict[str, Any]]:
    rows = []
    commands = 6 if quick else 12
    for gap in (0.1, 1.0):
        for idle in (0.0, 0.5, 3.0):
            result = asyncio.run(_policy(idle, gap, commands))
            for metric, value in result.items():
                unit = "ms" if metric.endswith("ms") else ""
                rows.append(row(BENCH, f"policy gap {gap:g}s idle {idle:g}s: {metric.replace(' ms', '')}",
                                round(value, 2), unit))
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    ble = asyncio.run(_ble(bolt_samples=40 if quick else 200, connect_samples=10 if quick else 30))
    policy = policy_rows(quick)
    try:
        e2e = _e2e(n_locks=4 if quick else 12, rounds=3 if quick else 6)
    except (OSError, RuntimeError, requests.RequestException, subprocess.CalledProcessError,
            AssertionError) as err:
        rows = latency_rows(BENCH, "BLE unlock/lock (open session)", ble["bolt"], {})
        return [*rows, *policy, row(BENCH, "through the cloud", None, note=f"sandbox run failed: {err!r}"[:300])]
    rows = [
        *latency_rows(BENCH, "BLE unlock/lock (LockClient, open session)", ble["bolt"], {}),
        *latency_rows(BENCH, "BLE connect + handshake", ble["connect"], {}),
        *latency_rows(BENCH, "BLE cold unlock (connect + handshake + unlock)", ble["cold"], {}),
        *latency_rows(BENCH, "cloud unlock/lock (legacy POST, answered when done)", e2e["legacy"], {}),
    ]
    if e2e["actions"]:
        rows.append(row(BENCH, "cloud action: POST /actions to success read back p50",
                        round(percentile([s * 1000 for s in e2e["actions"]], 50), 2), "ms"))
    rows.append(row(BENCH, "cloud failures", e2e["failures"], "requests"))
    ble_p50 = percentile(ble["bolt"], 50) * 1000
    cloud_p50 = percentile(e2e["legacy"], 50) * 1000
    cloud_p99 = percentile(e2e["legacy"], 99) * 1000
    rows += [
        row(BENCH, "overhead of the cloud path p50 (cloud - BLE)", round(cloud_p50 - ble_p50, 2), "ms",
            note="long-poll and the legacy call's wait are woken by notification (provider/services/wakeups.py)"),
        row(BENCH, "overhead of the cloud path p99 (cloud - BLE)",
            round(cloud_p99 - percentile(ble["bolt"], 99) * 1000, 2), "ms"),
        row(BENCH, "cloud / BLE p50", round(cloud_p50 / ble_p50, 1) if ble_p50 else None, "x"),
        row(BENCH, "cloud mean", round(statistics.fmean(e2e["legacy"]) * 1000, 2), "ms"),
        *policy,
    ]
    return rows


if __name__ == "__main__":
    main_for(run)
