"""Webhook delivery: events/s to a local receiver, and event -> delivery latency.

The dispatchers run as `provider dispatcher` runs (separate processes, default
settings); this process records events through the provider's own
record_event() and runs the receiver (a threaded http.server on 127.0.0.1) that
notes when each event first arrives. Two runs:

- backlog: N events committed at once, dispatchers already running; events/s =
  N / (last first-arrival - commit);
- paced: events committed one at a time at a steady rate well below the
  throughput; latency = first arrival - commit (p50/p99).

1 dispatcher on SQLite (one file, one writer at a time), 4 on PostgreSQL.

    python -m bench.webhooks [--quick]
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.common import (
    Process,
    base_env,
    main_for,
    percentile,
    postgres_available,
    postgres_database,
    row,
)
from bench.fixtures import bench_app

NAME = "webhooks"
SECRET_KEY = "bench-webhooks-secret-key"
DEVICES = 100
CONCURRENCY = 8  # a dispatcher's default thread pool (DISPATCHER_CONCURRENCY)


_RECEIVER = """
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
first_seen, lock, total = {}, threading.Lock(), [0]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        at = time.time()
        with lock:
            total[0] += 1
            first_seen.setdefault(self.headers["webhook-id"], at)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            body = json.dumps({"total": total[0], "first_seen": first_seen}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class _Receiver:
    """Accepts every POST with 204 and notes when each webhook-id first arrived.

    Its own process, so that its ceiling is not shared with the process that
    records the events (one GIL); GET returns what it has seen so far.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())
        self._http = requests.Session()
        self.first_seen: dict[str, float] = {}
        self.total = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def refresh(self) -> None:
        seen = self._http.get(self.url, timeout=30).json()
        self.first_seen, self.total = seen["first_seen"], seen["total"]

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.refresh()
            if ids <= self.first_seen.keys():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def _receiver_ceiling(events: int, threads: int) -> float:
    """Events/s the receiver accepts when fed directly, as many connections as a dispatcher uses."""
    receiver = _Receiver()
    try:
        body = b'{"event_type":"lock.action_completed"}'
        counter = itertools.count()

        def feed(_: int) -> None:
            session = requests.Session()
            while (n := next(counter)) < events:
                session.post(receiver.url, data=body, headers={"webhook-id": f"evt_{n}"}, timeout=30)

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(feed, range(threads)))
        return events / (time.monotonic() - started)
    finally:
        receiver.close()


class _Events:
    """Writes events the way the provider does (record_event), with per-device sequences."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self._seqs = {f"bench-device-{i}": itertools.count(1) for i in range(DEVICES)}
        self._devices = itertools.cycle(list(self._seqs))

    def emit(self, count: int) -> tuple[list[str], float]:
        """Commits `count` events in one transaction; returns their ids and the commit time."""
        from provider.extensions import db
        from provider.services.events import record_event

        with self.app.app_context():
            rows = []
            for _ in range(count):
                device = next(self._devices)
                event = record_event("lock.action_completed", user_id="bench-owner",
                                     data={"action_type": "UNLOCK_DOOR", "status": "success"})
                event.device_id, event.device_seq = device, next(self._seqs[device])
                rows.append(event)
            db.session.flush()  # event_id is filled in by the INSERT
            ids = [event.event_id for event in rows]
            db.session.commit()
            committed = time.time()
            db.session.remove()
        return ids, committed


@contextlib.contextmanager
def _dispatchers(database_url: str, count: int, var_dir: str) -> Iterator[list[Process]]:
    env = base_env(DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, PROVIDER_VAR_DIR=var_dir,
                   DISPATCHER_IDLE_SECONDS="0.05")
    argv = [sys.executable, "-m", "provider.cli", "dispatcher"]
    procs = [Process(f"dispatcher-{i}", argv, {**env, "DISPATCHER_NAME": f"bench-{i}"}).start()
             for i in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def _measure(label: str, database_url: str, dispatchers: int, quick: bool) -> list[dict]:
    backlog = 1000 if quick else 5000
    paced_rate, paced_seconds = (20, 5) if quick else (50, 20)
    app = bench_app(database_url, SECRET_KEY)
    receiver = _Receiver()
    try:
        from provider.extensions import db
        from provider.services.webhooks import create_webhook

        with app.app_context():
            create_webhook(receiver.url)
            db.session.commit()
            db.session.remove()
        events = _Events(app)
        with tempfile.TemporaryDirectory() as var_dir, _dispatchers(database_url, dispatchers, var_dir) as procs:
            # Warm-up: the processes start, connect and deliver a first event.
            ids, _ = events.emit(1)
            if not receiver.wait_for(set(ids), 60):
                raise RuntimeError("no delivery within 60 s:\n" + procs[0].log_tail())

            ids, committed = events.emit(backlog)
            if not receiver.wait_for(set(ids), 600):
                raise RuntimeError("backlog not delivered within 600 s:\n" + procs[0].log_tail())
            elapsed = max(receiver.first_seen[i] for i in ids) - committed
            throughput = backlog / elapsed

            latencies = []
            interval = 1.0 / paced_rate
            next_at = time.monotonic()
            paced_ids = []
            for _ in range(paced_rate * paced_seconds):
                next_at += interval
                [event_id], at = events.emit(1)
                paced_ids.append((event_id, at))
                time.sleep(max(0.0, next_at - time.monotonic()))
            receiver.wait_for({i for i, _ in paced_ids}, 120)
            receiver.refresh()
            latencies = [(receiver.first_seen[i] - at) * 1000 for i, at in paced_ids if i in receiver.first_seen]
            duplicates = receiver.total - len(receiver.first_seen)
        shape = f"{dispatchers} dispatcher{'s' if dispatchers > 1 else ''}, {label}"
        return [
            row(NAME, f"backlog of {backlog} events ({shape})", round(throughput), "events/s",
                note=f"{DEVICES} devices, 1 webhook; {duplicates} duplicate deliveries"),
            row(NAME, f"event->delivery p50 at {paced_rate} events/s ({shape})",
                round(percentile(latencies, 50), 1), "ms"),
            row(NAME, f"event->delivery p99 at {paced_rate} events/s ({shape})",
                round(percentile(latencies, 99), 1), "ms",
                note=f"{len(latencies)} of {len(paced_ids)} events measured; dispatchers poll every 50 ms"),
        ]
    finally:
        receiver.close()
        with app.app_context():
            from provider.extensions import db

            db.engine.dispose()


def run(quick: bool = False) -> list[dict]:
    rows: list[dict] = []
    fed = 2000 if quick else 10000
    ceiling = _receiver_ceiling(fed, CONCURRENCY)
    rows.append(row(NAME, f"receiver ceiling (fed directly, {CONCURRENCY} connections)", round(ceiling),
                    "events/s", note=f"{fed} POSTs; the receiver is its own process"))
    with tempfile.TemporaryDirectory() as tmp:
        rows += _measure("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", 1, quick)
    reason = postgres_available()
    if reason:
        rows.append(row(NAME, "PostgreSQL runs", None, note=reason))
        return rows
    throughput = {}
    for count in (1, 4):
        with postgres_database("bench_webhooks") as url:
            got = _measure("PostgreSQL", url, count, quick)
        throughput[count] = got[0]["value"]
        rows += got
    rows.append(row(NAME, "4 dispatchers / 1 on PostgreSQL (backlog throughput)",
                    round(throughput[4] / throughput[1], 2), "x",
                    ">= 2.5",
                    note=f"or 4 at >= 80% of the receiver ceiling: 4 reach {throughput[4] / ceiling:.0%} of it"))
    return rows


if __name__ == "__main__":
    main_for(run)
