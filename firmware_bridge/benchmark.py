"""The bench sequence behind ``firmware-bridge bench``: timings per step, failures counted.

One iteration: connect (link + handshake, the handshake also shown alone), status, lock, unlock, put code,
list codes, keypad use (the PIN typed on the keypad, timed until the lock's
UnlockedEvent reaches the bridge), delete code, set time, disconnect.
A failed step is counted with its error and the iteration goes on (after a
failed connect, the rest of the iteration is skipped and counted as failed).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from firmware_bridge.lock_client import LockClient, LockClientError
from firmware_bridge.protocol.const import Source
from firmware_bridge.protocol.messages import LockEvent, UnlockedEvent

STEPS = (
    "connect",
    "handshake",  # the protocol handshake part of "connect"
    "status",
    "lock",
    "unlock",
    "put_code",
    "list_codes",
    "keypad_event",
    "delete_code",
    "set_time",
    "disconnect",
)
# How long the keypad step waits for the lock's UnlockedEvent: a virtual lock
# answers at once; a person at a real keypad needs time to type.
KEYPAD_WAIT_VIRTUAL = 5.0
KEYPAD_WAIT_HUMAN = 60.0

Keypad = Callable[[str], Awaitable[None]]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class StepStats:
    name: str
    durations: list[float] = field(default_factory=list)  # seconds, successful runs
    errors: dict[str, int] = field(default_factory=dict)  # error class -> count

    @property
    def failures(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        ms = [d * 1000 for d in self.durations]
        return {
            "step": self.name,
            "ok": len(ms),
            "failures": self.failures,
            "p50_ms": round(percentile(ms, 0.50), 3) if ms else None,
            "p95_ms": round(percentile(ms, 0.95), 3) if ms else None,
            "max_ms": round(max(ms), 3) if ms else None,
            "errors": dict(self.errors),
        }


@dataclass
class BenchResult:
    target: str
    iterations: int
    steps: dict[str, StepStats]
    mtu: int | None = None
    wall_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "iterations": self.iterations,
            "mtu": self.mtu,
            "wall_seconds": round(self.wall_seconds, 3),
            "steps": [s.as_dict() for s in self.steps.values()],
        }

    def table(self) -> str:
        header = f"{'step':<14}{'ok':>6}{'fail':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"
        lines = [
            f"bench: {self.target}, {self.iterations} iterations, MTU {self.mtu}",
            header,
            "-" * len(header),
        ]
        for stats in self.steps.values():
            row = stats.as_dict()

            def fmt(value: float | None) -> str:
                return f"{value:>10.2f}" if value is not None else f"{'-':>10}"

            lines.append(
                f"{stats.name:<14}{row['ok']:>6}{row['failures']:>6}"
                f"{fmt(row['p50_ms'])}{fmt(row['p95_ms'])}{fmt(row['max_ms'])}"
            )
        errors = {f"{s.name}: {e}": n for s in self.steps.values() for e, n in s.errors.items()}
        if errors:
            lines.append("errors: " + ", ".join(f"{k} x{n}" for k, n in errors.items()))
        lines.append(f"wall time {self.wall_seconds:.2f} s")
        return "\n".join(lines)


class EventWaiter:
    """Collects the client's unsolicited events so the keypad step can wait for one."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[LockEvent] = asyncio.Queue()

    def __call__(self, event: LockEvent) -> None:
        self._queue.put_nowait(event)

    def clear(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def keypad_unlock(self, slot: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                event = await self._queue.get()
                if (
                    isinstance(event, UnlockedEvent)
                    and event.source is Source.KEYPAD
                    and event.slot == slot
                ):
                    return


async def run_bench(
    client: LockClient,
    waiter: EventWaiter,
    *,
    iterations: int,
    keypad: Keypad | None,
    keypad_wait: float = KEYPAD_WAIT_VIRTUAL,
    slot: int = 200,
    timezone: str = "UTC",
    target: str = "",
    progress: Callable[[int, int, dict[str, StepStats]], None] | None = None,
) -> BenchResult:
    """Run the sequence ``iterations`` times on ``client`` (whose ``on_event`` is ``waiter``).

    ``keypad(pin)`` types a PIN on the lock (None: skip that step).
    """
    steps = {name: StepStats(name) for name in STEPS}
    result = BenchResult(target or client.name, iterations, steps)
    started = time.perf_counter()

    async def timed(name: str, action: Callable[[], Awaitable[Any]]) -> bool:
        begin = time.perf_counter()
        try:
            await action()
        except (LockClientError, TimeoutError) as err:
            key = type(err).__name__
            steps[name].errors[key] = steps[name].errors.get(key, 0) + 1
            return False
        steps[name].durations.append(time.perf_counter() - begin)
        return True

    async def keypad_step(pin: str) -> None:
        assert keypad is not None
        waiter.clear()
        await keypad(pin)
        await waiter.keypad_unlock(slot, keypad_wait)

    for iteration in range(1, iterations + 1):
        pin = f"{secrets.randbelow(10**6):06d}"
        if await timed("connect", client.connect):
            result.mtu = client.mtu
            if client.last_connect is not None:
                steps["handshake"].durations.append(client.last_connect.handshake)
            await timed("status", client.status)
            await timed("lock", client.lock)
            await timed("unlock", client.unlock)
            put_ok = await timed(
                "put_code", lambda pin=pin: client.put_code(slot, pin, "bench", replace=True)
            )
            await timed("list_codes", client.list_codes)
            if keypad is not None and put_ok:
                await timed("keypad_event", lambda pin=pin: keypad_step(pin))
            await timed("delete_code", lambda: client.delete_code(slot))
            await timed("set_time", lambda: client.set_time(datetime.now(UTC), timezone))
            await timed("disconnect", client.disconnect)
        else:
            for name in STEPS[1:]:
                steps[name].errors["skipped"] = steps[name].errors.get("skipped", 0) + 1
            await client.disconnect()
        if progress is not None:
            progress(iteration, iterations, steps)
    if keypad is None:
        del steps["keypad_event"]
    result.wall_seconds = time.perf_counter() - started
    return result


async def run_virtual_bench(
    iterations: int,
    *,
    mtu: int | None = None,
    key: str | bytes | None = None,
    engine: str | None = None,
) -> BenchResult:
    """The bench against one in-process virtual lock (for ``bench/`` modules and scripts);
    ``engine`` is its firmware (``python`` or ``c``)."""
    from firmware_bridge.bumble_backend.world import VirtualWorld
    from firmware_bridge.lock_client import BleBackend

    async with VirtualWorld() as world:
        peripheral = await world.add_lock(device_key=key, engine=engine)
        waiter = EventWaiter()
        backend = BleBackend.bumble(world.adapter, **({"mtu": mtu} if mtu else {}))
        client = world.client(peripheral.address, on_event=waiter, backend=backend)

        async def keypad(pin: str) -> None:
            peripheral.lock.enter_pin(pin)

        try:
            return await run_bench(
                client,
                waiter,
                iterations=iterations,
                keypad=keypad,
                target="virtual lock (Bumble virtual link)",
            )
        finally:
            await client.disconnect()


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed (it is an optional dependency of the bench)."""


def plot(result: BenchResult, path: str) -> None:
    """One box per step of the run, every sample drawn over it (PNG, SVG or PDF by suffix)."""
    try:
        import matplotlib
    except ImportError as err:
        raise PlotUnavailable("--plot needs matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s in result.steps.values() if s.durations]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.55 * max(len(steps), 1)))
    samples = [[d * 1000 for d in s.durations] for s in steps]
    if samples:
        ax.boxplot(samples, orientation="horizontal", showfliers=False)
        for row, values in enumerate(samples, start=1):
            ax.plot(values, [row] * len(values), "|", color="#1f5fa8", alpha=0.5)
        ax.set_yticks(range(1, len(steps) + 1), [s.name for s in steps])
        ax.invert_yaxis()  # the steps top to bottom in the order they run
    ax.set_xscale("log")
    ax.set_xlabel("duration (ms, log scale)")
    failed = sum(s.failures for s in result.steps.values())
    ax.set_title(f"{result.target}: {result.iterations} iterations, MTU {result.mtu}, {failed} failed steps",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
