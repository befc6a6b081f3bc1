"""Factory manifest import: 10,000 devices through `provider devices import`, SQLite and PostgreSQL.

The figure is the wall time of the CLI process a factory line runs (parse,
weak-key and duplicate checks, encryption of 20,000 secrets, one transaction),
on a freshly migrated database; a second, refused run (one repeated serial at
the end) shows what checking a whole batch costs when it is rejected.

    python -m bench.factory [--quick]
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import base_env, main_for, postgres_available, postgres_database, row

NAME = "factory import"
FIELDS = ("serial", "ble_address", "model", "hardware_revision", "firmware_version", "device_key",
          "offline_code_secret")


def manifest(path: Path, count: int, *, repeat_last_serial: bool = False) -> None:
    lines = [",".join(FIELDS)]
    for n in range(count):
        serial = f"BENCH-{n:07d}" if not (repeat_last_serial and n == count - 1) else "BENCH-0000000"
        address = f"D4:{(n >> 16) & 255:02X}:{(n >> 8) & 255:02X}:{n & 255:02X}:5E:{n % 200 + 16:02X}"
        lines.append(",".join([serial, address, "HALO-01", "C", "1.4.2", secrets.token_hex(16),
                               secrets.token_hex(32)]))
    path.write_text("\n".join(lines) + "\n")


def _provider(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provider.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def measure(database_url: str, label: str, count: int, tmp: Path) -> list[dict]:
    env = base_env(DATABASE_URL=database_url, SECRET_KEY="bench-factory", PROVIDER_VAR_DIR=str(tmp))
    migrated = _provider(env, "db", "upgrade")
    if migrated.returncode != 0:
        return [row(NAME, f"{label}: migrate", None, note=migrated.stderr[-300:])]
    good, bad = tmp / f"{label}-good.csv", tmp / f"{label}-bad.csv"
    manifest(good, count)
    manifest(bad, count, repeat_last_serial=True)
    started = time.perf_counter()
    refused = _provider(env, "devices", "import", str(bad))
    refused_s = time.perf_counter() - started
    started = time.perf_counter()
    done = _provider(env, "devices", "import", str(good))
    done_s = time.perf_counter() - started
    if done.returncode != 0:
        return [row(NAME, f"{label}: import {count:,}", None, note=done.stderr[-300:])]
    return [
        row(NAME, f"{label}: import {count:,} devices (CLI wall time)", round(done_s, 2), "s",
            "< 60", note=done.stdout.strip()),
        row(NAME, f"{label}: refuse {count:,} devices (one repeated serial)", round(refused_s, 2), "s",
            note=f"exit {refused.returncode}, nothing written"),
    ]


def run(quick: bool = False) -> list[dict]:
    count = 1000 if quick else 10_000
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        rows += measure(f"sqlite:///{tmp / 'factory.db'}", "SQLite", count, tmp)
        reason = postgres_available()
        if reason:
            rows.append(row(NAME, "PostgreSQL", None, note=reason))
        else:
            with postgres_database("bench_factory") as url:
                rows += measure(url.replace("postgresql://", "postgresql+psycopg://"), "PostgreSQL",
                                count, tmp)
    return rows


if __name__ == "__main__":
    main_for(run)
