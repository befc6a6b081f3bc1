"""The C firmware core (firmware/): Cortex-M4 size, and the BLE bench on both engines.

- size: `make -C firmware size` (Debian's arm-none-eabi-gcc + newlib, -Os,
  Cortex-M4 Thumb-2): .text/.data/.bss of the core without mbedTLS, and the
  port's static `lock_t`; targets <= 32 KB flash, <= 8 KB RAM;
- bench: `firmware-bridge bench --virtual` with the Python simulator and with
  the C core behind the same Bumble link and LockClient (p50 per step).

    python -m bench.firmware [--quick]
"""

from __future__ import annotations

import asyncio
import re
import subprocess

from bench.common import ROOT, main_for, row

NAME = "firmware (C core)"
STEPS = ("handshake", "status", "unlock", "put_code", "list_codes", "keypad_event")


def _size_rows() -> list[dict]:
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "firmware"), "size"], capture_output=True,
                          text=True, timeout=1200, check=False)
    if proc.returncode != 0:
        return [row(NAME, "Cortex-M4 size", None, note=f"make size failed: {proc.stdout[-200:]}{proc.stderr[-300:]}")]
    total = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\w+\s+\(TOTALS\)", proc.stdout, re.M)
    port = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\w+\s+\S*arm_port\.o", proc.stdout, re.M)
    linked = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\w+\s+\S*core\.elf", proc.stdout, re.M)
    if not (total and port and linked):
        return [row(NAME, "Cortex-M4 size", None, note="could not read arm-none-eabi-size output")]
    text, data, bss = (int(v) for v in total.groups())
    lock_t = int(port.group(3))
    flash = int(linked.group(1)) + int(linked.group(2))
    ram = int(linked.group(2)) + int(linked.group(3)) + lock_t
    return [
        row(NAME, "Cortex-M4 .text (core objects, no mbedTLS)", text, "bytes"),
        row(NAME, "Cortex-M4 .data / .bss of the core", f"{data} / {bss}", "bytes"),
        row(NAME, "Cortex-M4 flash, linked with newlib-nano mem*", flash, "bytes", "<= 32768"),
        row(NAME, "Cortex-M4 static RAM (lock_t + .data + .bss)", ram, "bytes", "<= 8192",
            note="stack ~1-1.2 KB more (firmware/README.md)"),
    ]


def _bench_rows(iterations: int) -> list[dict]:
    from firmware_bridge.benchmark import run_virtual_bench
    from firmware_bridge.simulator.c_engine import available

    if not available():
        return [row(NAME, "bench", None, note="the C core library could not be built")]
    rows = []
    results = {engine: asyncio.run(run_virtual_bench(iterations, mtu=247, engine=engine)).as_dict()
               for engine in ("python", "c")}
    for step in STEPS:
        by_engine = {e: next(s for s in r["steps"] if s["step"] == step) for e, r in results.items()}
        failures = sum(s["failures"] for s in by_engine.values())
        rows.append(row(NAME, f"BLE {step} p50, Python / C engine",
                        f"{by_engine['python']['p50_ms']} / {by_engine['c']['p50_ms']}", "ms",
                        note=f"{iterations} iterations, MTU 247" + (f"; {failures} failures" if failures else "")))
    return rows


def run(quick: bool = False) -> list[dict]:
    return _size_rows() + _bench_rows(10 if quick else 100)


if __name__ == "__main__":
    main_for(run)
