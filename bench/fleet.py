"""Fleet: many bridges on both transports, and what they cost Seam's API.

MQTT: N simulated bridges (bench.fleet_sim, a few processes) connected to a
private Mosquitto with dynamic security, one `provider bridge-gateway`, the
web server on the same database. Figures: time until every bridge is online
(presence applied), RSS of broker, gateway and simulators, CPU of broker and
gateway while the fleet idles, command delivery (commit of the command ->
the simulated bridge has it) at a steady rate, remote unlock end to end
through Seam's API (legacy /unlock: web -> queue -> gateway -> broker ->
bridge -> result -> web), and Seam's GET /locks p99 with and without the fleet.

HTTP: `provider bridge-api` with N simulated bridges long-polling, for
growing N: Seam's GET /locks p99 on the web server, the bridge server's RSS,
and command delivery at the largest N.

The database is SQLite with REDIS_URL carrying wake-ups between processes
(what `make run` plus Redis is); PostgreSQL would add LISTEN/NOTIFY.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Process,
    base_env,
    free_port,
    latency_rows,
    main_for,
    paced,
    provider_serve_argv,
    row,
    rss_mb,
    skipped,
    wait_http,
)

B = "fleet"
SIM_PROCESSES = 4
SEAM_LOCKS = 10
GET_LOCKS_RATE = 50  # req/s offered to GET /locks while measuring its p99
ONLINE_TIMEOUT = 600  # seconds for the whole fleet to come online
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadavg() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def _seed(database_url: str, secret_key: str, count: int, directory: Path) -> tuple[str, list[str], Path]:
    """`count` bridges with one lock each; the first SEAM_LOCKS belong to the owner Seam lists."""
    from bench.fixtures import bench_app, issue_token
    from provider.extensions import db
    from provider.services import bridges, locks
    from provider.services.accounts import ensure_account

    app = bench_app(database_url, secret_key)
    fleet: list[list[str]] = []
    with app.app_context():
        seam_owner = ensure_account("seam-owner@bench.example", "bench-password")
        others = ensure_account("fleet@bench.example", "bench-password")
        for index in range(count):
            owner = seam_owner if index < SEAM_LOCKS else others
            bridge, token = bridges.create_bridge(owner.id, f"fleet {index}")
            lock = locks.add_lock(owner_id=owner.id, bridge=bridge, name=f"Door {index}",
                                  ble_address=f"D0:00:00:{index >> 16 & 0xFF:02X}:{index >> 8 & 0xFF:02X}:{index & 0xFF:02X}",
                                  code_capacity=30, online=False, battery_level=90, lock_state="locked")
            fleet.append([bridge.id, token, lock.id])
            if index % 500 == 499:
                db.session.commit()
        seam_token = issue_token("seam-owner@bench.example")
        db.session.commit()
        db.engine.dispose()
    path = directory / "bridges.json"
    path.write_text(json.dumps(fleet))
    return seam_token, [entry[2] for entry in fleet[:SEAM_LOCKS]], path


def _dynsec_file(path: Path, fleet: list[list[str]]) -> None:
    """The broker's accounts written in one go (the $CONTROL API rewrites its file after every change)."""
    from bridge_contract import mqtt as channel
    from provider.services.broker_accounts import (
        bridge_acl,
        dynsec_config,
        dynsec_password,
        role_acls,
    )
    from tests.brokers import ADMIN, GATEWAY

    config = dynsec_config(ADMIN, GATEWAY)
    salt = secrets.token_bytes(12)
    for bridge_id, token, _ in fleet:
        role = f"bridge-{bridge_id}"
        config["roles"].append({"rolename": role, "acls": role_acls(bridge_acl(channel.DEFAULT_PREFIX, bridge_id))})
        config["clients"].append({"username": bridge_id, "clientid": channel.client_id(bridge_id),
                                  "roles": [{"rolename": role}], **dynsec_password(token, salt=salt)})
    path.write_text(json.dumps(config))
    path.chmod(0o600)


def _status(directory: Path) -> dict[str, int]:
    total: dict[str, int] = {}
    for path in directory.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for key, value in data.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def _received(directory: Path) -> dict[str, float]:
    seen: dict[str, float] = {}
    for path in directory.glob("*.received"):
        for line in path.read_text().splitlines():
            command_id, _, at = line.partition(" ")
            seen.setdefault(command_id, float(at))
    return seen


def _simulators(mode: str, bridges_file: Path, status: Path, env: dict[str, str], **target: str) -> list[Process]:
    status.mkdir(parents=True, exist_ok=True)
    extra = ["--port", target["port"]] if mode == "mqtt" else ["--url", target["url"]]
    return [Process(f"sim{n}", [sys.executable, "-m", "bench.fleet_sim", mode, "--bridges", str(bridges_file),
                                "--slice", f"{n}/{SIM_PROCESSES}", "--status", str(status), *extra], env).start()
            for n in range(SIM_PROCESSES)]


def _wait(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def _online_bridges(database_url: str) -> int:
    import sqlite3

    with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM bridges WHERE online = 1").fetchone()[0])


def _online_locks(database_url: str, lock_ids: list[str]) -> int:
    import sqlite3

    marks = ",".join("?" * len(lock_ids))
    with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30) as conn:
        return int(conn.execute(
            f"SELECT count(*) FROM locks JOIN bridges ON bridges.id = locks.bridge_id "  # noqa: S608 - placeholders
            f"WHERE locks.online = 1 AND bridges.online = 1 AND locks.id IN ({marks})", lock_ids).fetchone()[0])


def _command_load(database_url: str, secret_key: str, lock_ids: list[str], rate: float, seconds: float) -> dict[str, float]:
    """Queues set_time commands at `rate` per second for `seconds`; returns command id -> wall time of its commit."""
    from bench.fixtures import bench_app
    from provider.extensions import db
    from provider.models import Lock
    from provider.services import commands

    app = bench_app(database_url, secret_key)
    sent: dict[str, float] = {}
    rng = random.Random(7)
    with app.app_context():
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            due = start + n / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            lock = db.session.get(Lock, rng.choice(lock_ids))
            command = commands.enqueue(lock, "set_time", {"timezone": "UTC"},
                                       idempotency_key=f"bench-{secrets.token_hex(8)}", ttl_seconds=600)
            db.session.commit()
            sent[command.id] = time.time()
            n += 1
        db.engine.dispose()
    return sent


def _get_locks(base_url: str, token: str, seconds: float) -> Any:
    return paced(base_url + "/locks", GET_LOCKS_RATE, duration=seconds, connections=4,
                 headers={"Authorization": f"Bearer {token}"})


def _unlocks(base_url: str, token: str, lock_ids: list[str], count: int) -> tuple[list[float], list[str]]:
    """Legacy /unlock (it answers once the lock has): the whole round trip, as Seam sees it."""
    import requests

    took, failures = [], []
    for n in range(count):
        started = time.monotonic()
        response = requests.post(f"{base_url}/locks/{lock_ids[n % len(lock_ids)]}/unlock",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if response.status_code < 300:
            took.append(time.monotonic() - started)
        else:
            failures.append(f"{response.status_code} {response.text[:200]}")
    return took, failures


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Every row measured; a phase that fails ends the run with a row saying what happened."""
    rows: list[dict[str, Any]] = []
    try:
        _run(quick, rows)
    except Exception as err:  # noqa: BLE001 - keep what was measured
        rows.append(row(B, "run ended early", None, note=f"{type(err).__name__}: {err}"))
    rows.append(row(B, "load average at end", _loadavg(), "1/5/15 min"))
    return rows


def _run(quick: bool, rows: list[dict[str, Any]]) -> None:
    from tests.brokers import Mosquitto, missing_mosquitto

    reason = missing_mosquitto()
    if reason:
        rows += skipped(B, reason)
        return
    count = 1000 if quick else int(os.environ.get("BENCH_FLEET_BRIDGES", "10000"))
    http_steps = [0, 250, 500] if quick else [0, 500, 1000, 2000]
    rate, load_seconds = (50, 10) if quick else (200, 30)
    rows.append(row(B, "load average at start", _loadavg(), "1/5/15 min"))
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        directory = Path(tmp)
        database_url = f"sqlite:///{directory / 'fleet.db'}"
        secret_key = secrets.token_urlsafe(32)
        seeded = time.monotonic()
        seam_token, seam_locks, bridges_file = _seed(database_url, secret_key, count, directory)
        fleet = json.loads(bridges_file.read_text())
        rows.append(row(B, f"seed {count} bridges", round(time.monotonic() - seeded, 1), "s"))
        env = base_env(DATABASE_URL=database_url, SECRET_KEY=secret_key, REDIS_URL=REDIS_URL,
                       PROVIDER_VAR_DIR=str(directory / "var"), PROVIDER_ENV="sandbox")
        port = free_port()
        web = Process("web", [a.replace("{port}", str(port)) for a in provider_serve_argv()], env).start()
        base_url = f"http://127.0.0.1:{port}"
        processes: list[Process] = [web]
        try:
            wait_http(base_url + "/health", web)
            alone = _get_locks(base_url, seam_token, 10)
            rows.append(row(B, "GET /locks p99, no bridges", round(alone.p99_ms, 2), "ms",
                            detail=alone.summary()))

            # ---------------------------------------------------------------- MQTT
            broker_dir = directory / "mosquitto"
            broker_dir.mkdir()
            _dynsec_file(broker_dir / "dynamic-security.json", fleet)
            broker = Mosquitto(broker_dir).start()
            gateway = Process("gateway", [sys.executable, "-m", "provider.bridge_gateway"],
                              {**env, "MQTT_URL": broker.gateway_url, "LOG_LEVEL": "warning"}).start()
            processes.append(gateway)
            status = directory / "mqtt-status"
            sims = _simulators("mqtt", bridges_file, status, env, port=str(broker.port))
            processes += sims
            try:
                started = time.monotonic()
                with contextlib.suppress(RuntimeError):
                    _wait(lambda: _online_bridges(database_url) >= count, ONLINE_TIMEOUT, "every MQTT bridge online")
                online = _online_bridges(database_url)
                rows.append(row(B, f"MQTT: bridges online (presence applied) of {count}", online, "bridges",
                                f">= {count}", note=f"after {time.monotonic() - started:.0f} s; simulators connect "
                                f"{SIM_PROCESSES} x 300/s; connected at the broker: {_status(status).get('connected', 0)}"))
                cpu_before = {p: _cpu_seconds(p) for p in (broker.pid, gateway.pid)}
                idle_started = time.monotonic()
                with_fleet = _get_locks(base_url, seam_token, 10)
                idle = time.monotonic() - idle_started
                rows.append(row(B, "GET /locks p99, MQTT fleet connected", round(with_fleet.p99_ms, 2), "ms",
                                f"<= {alone.p99_ms * 1.2:.1f}", note="target: 1.2x the p99 with no bridges",
                                detail=with_fleet.summary()))
                broker_rss, gateway_rss = rss_mb(broker.pid) or 0.0, rss_mb(gateway.pid) or 0.0
                sims_rss = sum(rss_mb(p.pid) or 0.0 for p in sims)
                rows += [
                    row(B, "MQTT: broker RSS", round(broker_rss, 1), "MB"),
                    row(B, "MQTT: gateway RSS", round(gateway_rss, 1), "MB"),
                    row(B, f"MQTT: simulators RSS ({SIM_PROCESSES} processes)", round(sims_rss, 1), "MB"),
                    row(B, "MQTT: broker memory per bridge", round(broker_rss * 1024 / count, 1), "kB"),
                    row(B, "MQTT: broker + gateway CPU per 1,000 idle bridges",
                        round(sum(_cpu_seconds(p) - cpu_before[p] for p in cpu_before) / idle / count * 1000 * 100, 2),
                        "% of a core"),
                ]
                sent = _command_load(database_url, secret_key, [entry[2] for entry in fleet], rate, load_seconds)
                _wait(lambda: _status(status).get("commands", 0) >= len(sent), 120, "every command delivered")
                for sim in sims:
                    sim.stop()
                received = _received(status)
                delays = [received[cid] - at for cid, at in sent.items() if cid in received]
                rows += latency_rows(B, f"MQTT: command delivery at {rate}/s", delays,
                                     {"p50": "<= 20 ms", "p99": "<= 100 ms"})
                rows.append(row(B, "MQTT: commands not delivered", len(sent) - len(delays), "commands", "0"))
                sims = _simulators("mqtt", bridges_file, directory / "mqtt-status-2", env, port=str(broker.port))
                processes += sims
                _wait(lambda: _online_locks(database_url, seam_locks) >= SEAM_LOCKS, 600, "Seam's locks back online")
                unlocks, failures = _unlocks(base_url, seam_token, seam_locks, 20 if quick else 50)
                if unlocks:
                    rows += latency_rows(B, "MQTT: remote unlock via Seam's API (simulated lock)", unlocks, {})
                rows.append(row(B, "MQTT: remote unlocks that failed", len(failures), "requests", "0",
                                note=failures[0] if failures else None))
            finally:
                for sim in sims:
                    sim.stop()
                gateway.stop()
                broker.stop()

            # ---------------------------------------------------------------- HTTP
            bridge_port = free_port()
            bridge_api = Process("bridge-api", [sys.executable, "-m", "provider.bridge_api.server",
                                                "--port", str(bridge_port)], env).start()
            processes.append(bridge_api)
            bridge_url = f"http://127.0.0.1:{bridge_port}"
            wait_http(bridge_url + "/health", bridge_api)
            base_rss = rss_mb(bridge_api.pid) or 0.0
            for step in http_steps[1:]:
                step_file = directory / f"http-{step}.json"
                step_file.write_text(json.dumps(fleet[:step]))
                step_status = directory / f"http-status-{step}"
                sims = _simulators("http", step_file, step_status, env, url=bridge_url)
                try:
                    _wait(lambda step=step, step_status=step_status: _status(step_status).get("waiting", 0) >= step,
                          600, f"{step} HTTP bridges polling")
                    measured = _get_locks(base_url, seam_token, 10)
                    rss = rss_mb(bridge_api.pid) or 0.0
                    rows.append(row(B, f"HTTP: GET /locks p99 with {step} long-polling bridges",
                                    round(measured.p99_ms, 2), "ms", f"<= {alone.p99_ms * 1.5:.1f}",
                                    note="target: 1.5x the p99 with no bridges", detail=measured.summary()))
                    rows.append(row(B, f"HTTP: bridge-api RSS with {step} bridges", round(rss, 1), "MB",
                                    note=f"{(rss - base_rss) * 1024 / step:.1f} kB per bridge"))
                    if step == http_steps[-1]:
                        sent = _command_load(database_url, secret_key, [entry[2] for entry in fleet[:step]],
                                             rate, load_seconds)
                        with contextlib.suppress(RuntimeError):  # counted below as not delivered
                            _wait(lambda sent=sent, step_status=step_status:
                                  _status(step_status).get("commands", 0) >= len(sent), 120,
                                  "every HTTP command delivered")
                finally:
                    for sim in sims:
                        sim.stop()
                if step == http_steps[-1]:
                    received = _received(step_status)
                    delays = [received[cid] - at for cid, at in sent.items() if cid in received]
                    rows += latency_rows(B, f"HTTP: command delivery at {rate}/s, {step} bridges", delays, {})
                    rows.append(row(B, f"HTTP: commands not delivered within 120 s, {step} bridges",
                                    len(sent) - len(delays), "commands", "0",
                                    note=f"simulator request errors: {_status(step_status).get('errors', 0)}"))
        finally:
            for process in processes:
                process.stop()


if __name__ == "__main__":
    main_for(run)
