"""Shared tooling: result rows, servers in their own processes, wrk, RSS, PostgreSQL.

Servers are always separate processes started the way production starts them
(`provider serve`: gunicorn, gthread workers), and the load generator (wrk) is
another process, so the numbers include the HTTP stack and nothing is measured
from inside the process under test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
# The serving shape every API figure is measured with: `provider serve`'s defaults.
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "16"))


# ---------------------------------------------------------------- result rows

def row(
    benchmark: str,
    metric: str,
    value: float | int | str | None,
    unit: str = "",
    target: str | None = None,
    *,
    note: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One result row; ``value`` None means "not measured" and ``note`` says why."""
    out: dict[str, Any] = {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit}
    if target is not None:
        out["target"] = target
    if note:
        out["note"] = note
    if detail:
        out["detail"] = detail
    return out


def skipped(benchmark: str, reason: str) -> list[dict[str, Any]]:
    return [row(benchmark, "skipped", None, note=reason)]


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 is a latency someone really saw)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, int(round(pct / 100.0 * len(ordered) + 0.5 - 1e-9)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_rows(benchmark: str, name: str, seconds: Sequence[float], targets: dict[str, str]) -> list[dict[str, Any]]:
    ms = [s * 1000 for s in seconds]
    return [
        row(benchmark, f"{name} p50", round(percentile(ms, 50), 2), "ms", targets.get("p50")),
        row(benchmark, f"{name} p99", round(percentile(ms, 99), 2), "ms", targets.get("p99")),
        row(benchmark, f"{name} mean", round(statistics.fmean(ms), 2), "ms"),
        row(benchmark, f"{name} samples", len(ms), "requests"),
    ]


# ---------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """Direct child pids, read from /proc (no psutil needed)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: parse after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return sorted(out)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class RssSampler:
    """Samples the RSS of some processes every `interval` seconds in a thread; keeps the max."""

    def __init__(self, pids_fn: Any, interval: float = 0.2) -> None:
        self._pids_fn = pids_fn
        self._interval = interval
        self._stop = threading.Event()
        self.peak: dict[int, float] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in self._pids_fn():
                value = rss_mb(pid)
                if value is not None:
                    self.peak[pid] = max(value, self.peak.get(pid, 0.0))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def max_mb(self) -> float | None:
        return max(self.peak.values()) if self.peak else None


@dataclass
class Process:
    """A child process in its own process group, with its log in a temp file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path = ROOT
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1]))

    def start(self) -> Process:
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill9(self) -> None:
        """SIGKILL the process itself (not its group): what a crash looks like."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.popen is not None
            self.popen.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
        if getattr(self, "_log", None):
            self._log.close()
        with contextlib.suppress(OSError):
            self.log_path.unlink()


def wait_http(url: str, process: Process | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update({"LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"})
    # `provider serve` and `provider dispatcher` default to production rules; the bench
    # runs them against local receivers and plain http.
    env.setdefault("PROVIDER_ENV", "sandbox")
    env.update(extra)
    return env


@contextlib.contextmanager
def served(name: str, argv: list[str], env: dict[str, str], ready_path: str = "/health",
           port: int | None = None) -> Iterator[tuple[Process, str]]:
    """Runs a server process; yields it and its base URL once `ready_path` answers."""
    port = port or free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    proc = Process(name, argv, env).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(base_url + ready_path, proc)
        yield proc, base_url
    finally:
        proc.stop()


def provider_serve_argv(workers: int = WORKERS, threads: int = THREADS) -> list[str]:
    """Exactly `provider serve`: gunicorn, gthread workers."""
    return [sys.executable, "-m", "provider.cli", "serve", "--port", "{port}",
            "--workers", str(workers), "--threads", str(threads)]


def bare_flask_argv(workers: int = WORKERS, threads: int = THREADS) -> list[str]:
    """The bare Flask `jsonify` app, served by the same gunicorn setup as `provider serve`."""
    return [sys.executable, "-m", "bench.bare_app", "--port", "{port}",
            "--workers", str(workers), "--threads", str(threads)]


# ---------------------------------------------------------------- wrk

def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    raise RuntimeError("wrk is not installed (make bench installs it: apt-get install -y wrk)")


_WRK_RUNS = 0


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    connections: int
    statuses: dict[str, int]

    def summary(self) -> str:
        return (f"{self.rps:.0f} req/s, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
                f"{self.non_2xx} non-2xx, {self.socket_errors} socket errors")


def wrk(
    url: str,
    *,
    duration: float = 10.0,
    connections: int = 16,
    threads: int = 1,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    paths: Sequence[str] | None = None,
    rate: float | None = None,
    delay_ms: float | None = None,
) -> WrkResult:
    """Runs wrk against `url` and returns its figures.

    `paths` are cycled per request (relative to the URL's host); `body` may hold
    ``{pin}`` (a PIN unique across the run) and ``{n}`` (a counter). `rate`
    (total req/s) throttles each connection with wrk's `delay()`: a paced closed
    loop, so the figures are latency at that offered load, not at saturation
    (`paced()` corrects the pause for the response time). `delay_ms` sets the
    pause directly.
    """
    binary = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "wrk.json"
        env = dict(os.environ)
        env["WRK_OUT"] = str(out)
        env["WRK_METHOD"] = method
        global _WRK_RUNS
        _WRK_RUNS += 1
        env["WRK_COUNTER_START"] = str(_WRK_RUNS * 100_000 % 1_000_000)
        if body is not None:
            env["WRK_BODY"] = body
        if paths:
            paths_file = Path(tmp) / "paths.txt"
            paths_file.write_text("\n".join(paths) + "\n")
            env["WRK_PATHS"] = str(paths_file)
        if headers:
            env["WRK_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
        if rate:
            delay_ms = connections * 1000.0 / rate
        if delay_ms:
            env["WRK_DELAY_MS"] = f"{delay_ms:.3f}"
        argv = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{duration:.0f}s",
                "--timeout", "10s", "-s", str(WRK_SCRIPT), url]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        data = json.loads(out.read_text())
    seconds = data["duration_us"] / 1e6
    return WrkResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000.0,
        p90_ms=data["p90_us"] / 1000.0,
        p99_ms=data["p99_us"] / 1000.0,
        max_ms=data["max_us"] / 1000.0,
        non_2xx=data["errors_status"],
        socket_errors=data["errors_connect"] + data["errors_read"] + data["errors_write"] + data["errors_timeout"],
        connections=connections,
        statuses=data.get("statuses", {}),
    )


def paced(url: str, rate: float, *, duration: float, connections: int, **kwargs: Any) -> WrkResult:
    """wrk at about `rate` req/s: a short calibration run measures the typical (median)
    response time at that pace, and each connection's pause is shortened by it."""
    wanted_cycle_ms = connections * 1000.0 / rate
    probe = wrk(url, duration=2, connections=connections, delay_ms=wanted_cycle_ms, **kwargs)
    # The median, not the mean: a few slow responses must not make the pace overshoot.
    delay = max(wanted_cycle_ms / 2, wanted_cycle_ms - probe.p50_ms)
    return wrk(url, duration=duration, connections=connections, delay_ms=delay, **kwargs)


# ---------------------------------------------------------------- PostgreSQL

def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as err:  # any failure means "not here"
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(err).__name__}"


@contextlib.contextmanager
def postgres_database(prefix: str = "bench") -> Iterator[str]:
    """A dedicated database created for the run and dropped afterwards; yields its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main_for(run: Any) -> None:
    """`python -m bench.<name> [--quick] [--json PATH]`: run one module, print its table."""
    import argparse

    from bench.report import format_table

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller, faster run")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    print(format_table(rows), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows))
