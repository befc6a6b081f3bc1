"""Chaos: the whole system under a mixed load while its processes are killed with SIGKILL.

Real processes: `provider serve` (gunicorn), `provider dispatcher`, and
`firmware-bridge agent --backend virtual` (the bridge's locks as virtual locks on
the Bumble link), a real webhook receiver, and a load of lock actions, access-code
creates/updates/deletes, keypad entries and BLE faults. In turn the web workers,
the dispatcher and the agent are killed with SIGKILL and restarted. Afterwards:

- every action and access code settled (nothing stuck pending);
- every state change has its event (each action its lock.action_completed, each
  code its created/updated/deleted, each keypad entry the lock acknowledged its
  event), and every event row reached the webhook receiver (by event id);
- no code is on a lock twice, and each lock's code table equals the cloud's;
- per device, first deliveries arrive in device_seq order.

`make chaos` runs the long version of this plus a schemathesis run over the
whole openapi.yaml, and writes docs/reliability.md. tests/chaos/ runs a bounded
version inside `make test`.

    python -m bench.chaos [--quick] [--skip-schemathesis]
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    ROOT,
    Process,
    base_env,
    children_of,
    free_port,
    postgres_available,
    postgres_database,
    provider_serve_argv,
    wait_http,
)

LIVE = ("pending", "active")


def missing_piece() -> str | None:
    """Why the chaos run cannot run yet (a piece of the system is missing), or None."""
    needs = [
        ("provider.services.access_codes", "access codes (issue 3)"),
        ("provider.bridge_api.routes", "bridge API (issue 3)"),
        ("provider.dispatcher", "webhook dispatcher (issue 4)"),
        ("provider.services.webhooks", "webhooks (issue 4)"),
        ("firmware_bridge.agent.agent", "bridge agent (issue 6)"),
        ("firmware_bridge.agent.virtual_backend", "virtual-lock backend of the agent (issue 6)"),
    ]
    for module, what in needs:
        try:
            __import__(module)
        except ImportError as err:
            return f"{what} is not there yet: {err}"
    try:
        from tests.provider.webhooks.receiver import Receiver  # noqa: F401
    except ImportError as err:
        return f"webhook test receiver missing: {err}"
    return None


@dataclass
class ChaosConfig:
    locks: int = 6
    duration: float = 45.0
    ops_per_second: float = 3.0
    # (seconds after the load starts, "web" | "dispatcher" | "agent")
    kills: list[tuple[float, str]] = field(default_factory=lambda: [(6.0, "agent"), (16.0, "web"),
                                                                     (26.0, "dispatcher")])
    restart_delay: float = 2.0
    settle_timeout: float = 120.0
    converge_target: float = 30.0
    ble_faults: bool = True
    seed: int = 1


@dataclass
class Tally:
    ops: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    keypad: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    kills: list[str] = field(default_factory=list)


class Control:
    """JSON-lines client of the agent's virtual-lock control endpoint (re-read after restarts)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "control.json"

    def __call__(self, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        endpoint = json.loads(self.path.read_text())
        with socket.create_connection((endpoint["host"], endpoint["port"]), timeout=timeout) as sock:
            sock.sendall(json.dumps({**request, "token": endpoint["token"]}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)


class ChaosSystem:
    """Database, receiver and the three kinds of process; restartable one by one."""

    def __init__(self, config: ChaosConfig, database_url: str, workdir: Path) -> None:
        self.config = config
        self.database_url = database_url
        self.workdir = workdir
        self.state_dir = workdir / "bridge"
        self.secret_key = secrets.token_urlsafe(32)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, Process] = {}
        self.restarts: Counter = Counter()

    # -- setup -------------------------------------------------------------------------

    def seed(self) -> None:
        from bench.fixtures import bench_app, issue_token
        from provider.extensions import db
        from provider.services import bridges, webhooks
        from provider.services import locks as locks_service
        from provider.services.accounts import ensure_account
        from tests.provider.webhooks.receiver import Receiver

        self.receiver = Receiver().start()
        self.app = bench_app(self.database_url, self.secret_key)
        with self.app.app_context():
            # First, so that every event of the run (device.added included) is for it.
            webhooks.create_webhook(self.receiver.url, None)
            account = ensure_account("chaos@bench.example", "chaos-password")
            self.bridge_token = bridges.TOKEN_PREFIX + secrets.token_urlsafe(32)
            bridge = bridges.create_bridge_with_token(account.id, "chaos gateway", self.bridge_token)
            self.lock_ids = [
                locks_service.add_lock(
                    owner_id=account.id, bridge=bridge, name=f"Chaos {i}",
                    ble_address=f"C4:A0:00:00:00:{i:02X}",
                ).id
                for i in range(self.config.locks)
            ]
            self.token = issue_token("chaos@bench.example")
            db.session.commit()

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(DATABASE_URL=self.database_url, SECRET_KEY=self.secret_key,
                        PROVIDER_ENV="sandbox", PROVIDER_VAR_DIR=str(self.workdir / "var"), **extra)

    def argv(self, name: str) -> list[str]:
        if name == "web":
            argv = provider_serve_argv(workers=2, threads=8)
            return [a.replace("{port}", str(self.port)) for a in argv]
        if name == "dispatcher":
            return [sys.executable, "-m", "provider.cli", "dispatcher"]
        return [sys.executable, "-m", "firmware_bridge.cli", "agent", "--provider-url", self.base_url,
                "--backend", "virtual", "--state-dir", str(self.state_dir),
                "--heartbeat-interval", "2", "--poll-interval", "5", "--idle-disconnect", "5"]

    def start(self, name: str) -> None:
        extra = {}
        if name == "dispatcher":
            extra = {"DISPATCHER_NAME": "chaos-dispatcher", "WEBHOOK_TIMEOUT_SECONDS": "3",
                     "DISPATCHER_IDLE_SECONDS": "0.1"}
        if name == "agent":
            extra = {"FIRMWARE_BRIDGE_TOKEN": self.bridge_token, "FIRMWARE_BRIDGE_RECONCILE_INTERVAL": "10"}
        self.processes[name] = Process(name, self.argv(name), self.env(**extra)).start()
        if name == "web":
            wait_http(self.base_url + "/health", self.processes[name])
        if name == "agent":
            control = self.state_dir / "control.json"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                # control.json of a killed agent stays behind: wait for the new pid.
                with contextlib.suppress(OSError, ValueError):
                    if json.loads(control.read_text()).get("pid") == self.processes[name].pid:
                        return
                if not self.processes[name].alive():
                    raise RuntimeError(f"agent exited:\n{self.processes[name].log_tail()}")
                time.sleep(0.1)
            raise RuntimeError("agent control endpoint did not come up")

    def kill(self, name: str) -> str:
        """SIGKILL: the web *workers* (gunicorn's master respawns them), the others whole."""
        proc = self.processes[name]
        if name == "web":
            workers = children_of(proc.pid)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    import os
                    import signal

                    os.kill(pid, signal.SIGKILL)
            return f"web: SIGKILL to {len(workers)} gunicorn workers (master respawns them)"
        proc.kill9()
        time.sleep(self.config.restart_delay)
        self.start(name)
        self.restarts[name] += 1
        return f"{name}: SIGKILL, restarted after {self.config.restart_delay:.0f} s"

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        with contextlib.suppress(Exception):
            self.receiver.stop()
        with contextlib.suppress(Exception):
            from provider.extensions import db

            with self.app.app_context():
                db.session.remove()
                db.engine.dispose()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{proc.log_tail(40)}" for name, proc in self.processes.items())


class Load:
    """A paced mixed load from one thread: actions, code CRUD, keypad entries, BLE faults."""

    def __init__(self, system: ChaosSystem, tally: Tally, rng: random.Random) -> None:
        self.system = system
        self.tally = tally
        self.rng = rng
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {system.token}"
        self.codes: dict[str, dict[str, dict[str, Any]]] = {lock: {} for lock in system.lock_ids}
        self.counter = 0
        self.control = Control(system.state_dir)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        for _attempt in range(3):
            try:
                response = self.http.request(method, self.system.base_url + path, timeout=20, **kwargs)
            except requests.RequestException as err:
                self.tally.errors[type(err).__name__] += 1
                time.sleep(0.3)
                continue
            self.tally.statuses[response.status_code] += 1
            if response.status_code >= 500:
                self.tally.errors[f"HTTP {response.status_code} {path.split('/')[1]}"] += 1
            return response
        return None

    def step(self) -> None:
        lock = self.rng.choice(self.system.lock_ids)
        live = self.codes[lock]
        choices = ["action"] * 4 + ["create"] * 2 + ["update", "delete"] + ["keypad"] * 2
        if self.system.config.ble_faults:
            choices.append("fault")
        op = self.rng.choice(choices)
        if op in ("update", "delete", "keypad") and not live:
            op = "create"
        if op == "create" and len(live) >= 12:
            op = "delete"
        self.tally.ops[op] += 1
        self.counter += 1
        if op == "action":
            # custom_id makes the retry after a killed worker safe: the same action comes back.
            self._call("POST", f"/locks/{lock}/actions",
                       json={"action": self.rng.choice(["lock", "unlock"]), "custom_id": uuid.uuid4().hex})
        elif op == "create":
            pin = f"{self.system.lock_ids.index(lock) + 1}{self.counter:05d}"
            response = self._call("POST", f"/locks/{lock}/access_codes",
                                  json={"name": f"C{self.counter}", "code": pin})
            if response is not None and response.status_code < 300:
                live[response.json()["access_code_id"]] = {"pin": pin}
        elif op == "update":
            code_id = self.rng.choice(list(live))
            self._call("PATCH", f"/access_codes/{code_id}", json={"name": f"U{self.counter}"})
        elif op == "delete":
            code_id = self.rng.choice(list(live))
            response = self._call("DELETE", f"/access_codes/{code_id}")
            if response is not None and response.status_code < 300:
                live.pop(code_id, None)
        elif op == "keypad":
            wrong = self.rng.random() < 0.3
            pin = "9999" if wrong else live[self.rng.choice(list(live))]["pin"]
            try:
                answer = self.control({"op": "enter_pin", "lock": lock, "pin": pin})
                self.tally.keypad[answer.get("event") or "none"] += 1
            except (OSError, ValueError) as err:
                self.tally.errors[f"keypad {type(err).__name__}"] += 1
        else:
            name = self.rng.choice(["jam_next", "disconnect_mid_command", "drop_notifications"])
            value: Any = 1 if name == "drop_notifications" else True
            try:
                answer = self.control({"op": "fault", "lock": lock, "name": name, "value": value})
                self.tally.faults[name if answer.get("ok") else f"{name} refused"] += 1
            except (OSError, ValueError) as err:
                self.tally.errors[f"fault {type(err).__name__}"] += 1


@dataclass
class Outcome:
    figures: dict[str, Any]
    failures: list[str]


def _wait(predicate: Any, timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until predicate() held, or None if it never did within timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None


class Checker:
    def __init__(self, system: ChaosSystem) -> None:
        self.system = system

    def _db(self, fn: Any) -> Any:
        from provider.extensions import db

        with self.system.app.app_context():
            try:
                return fn(db)
            finally:
                db.session.remove()

    def unsettled(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from provider.models.device import AccessCode, Action

        def query(db: Any) -> dict[str, int]:
            actions = db.session.scalar(select(func.count()).select_from(Action).where(Action.status == "pending"))
            codes = db.session.scalar(select(func.count()).select_from(AccessCode)
                                      .where(AccessCode.status.in_(("pending", "removing"))))
            return {"actions pending": actions, "codes pending/removing": codes}

        return self._db(query)

    def event_ids(self) -> set[str]:
        from sqlalchemy import select

        from provider.models import Event

        return self._db(lambda db: set(db.session.scalars(select(Event.event_id)).all()))

    def undelivered(self) -> set[str]:
        return self.event_ids() - set(self.system.receiver.event_ids())

    def tables(self) -> dict[str, tuple[list, list]]:
        """Per lock: (cloud's desired table, lock's table), both as sorted (slot, name)."""
        control = Control(self.system.state_dir)
        out = {}
        for lock in self.system.lock_ids:
            desired = requests.get(f"{self.system.base_url}/bridge/v1/locks/{lock}/access_codes",
                                   headers={"Authorization": f"Bearer {self.system.bridge_token}"}, timeout=20)
            desired.raise_for_status()
            cloud = sorted((c["slot"], c["device_name"]) for c in desired.json()["access_codes"])
            on_lock = sorted((c["slot"], c["name"]) for c in control({"op": "codes", "lock": lock})["codes"])
            out[lock] = (cloud, on_lock)
        return out

    def tables_equal(self) -> bool:
        try:
            return all(cloud == on_lock for cloud, on_lock in self.tables().values())
        except (OSError, ValueError, requests.RequestException):
            return False

    def event_coverage(self, tally: Tally) -> list[str]:
        """Every settled action and code has its event; lock-side keypad events arrived."""
        from sqlalchemy import select

        from provider.models import Event
        from provider.models.device import AccessCode, Action

        def query(db: Any) -> tuple[list, list, list]:
            actions = db.session.execute(select(Action.id, Action.status)).all()
            codes = db.session.execute(select(AccessCode.id, AccessCode.status, AccessCode.revision)).all()
            events = db.session.execute(select(Event.event_type, Event.data)).all()
            return actions, codes, events

        actions, codes, events = self._db(query)
        failures = []
        completed = Counter(e.data.get("action_id") for e in events
                            if e.event_type == "lock.action_completed" and e.data.get("action_id"))
        for action_id, status in actions:
            if status != "pending" and completed[action_id] != 1:
                failures.append(f"action {action_id} ({status}) has {completed[action_id]} lock.action_completed events")
        code_events = defaultdict(Counter)
        for e in events:
            if e.event_type.startswith("access_code.") and e.data.get("access_code_id"):
                code_events[e.data["access_code_id"]][e.event_type] += 1
        for code_id, status, _revision in codes:
            got = code_events[code_id]
            if status == "active" and not (got["access_code.created"] or got["access_code.updated"]):
                failures.append(f"active code {code_id} has no created/updated event")
            if status == "removed" and not got["access_code.deleted"]:
                failures.append(f"removed code {code_id} has no deleted event")
        at_keypad = Counter(e.data.get("status") for e in events if e.event_type == "lock.action_completed"
                            and e.data.get("performed_via") == "pin_code")
        incorrect = sum(1 for e in events if e.event_type == "access_code.incorrect_attempt")
        if at_keypad["success"] != tally.keypad["UnlockedEvent"]:
            failures.append(f"{tally.keypad['UnlockedEvent']} keypad unlocks on the locks, "
                            f"{at_keypad['success']} successful pin_code lock.action_completed events")
        # A keypad unlock that jams is reported too, as a failed action nobody asked for.
        if at_keypad["failed"] != tally.keypad["BoltFaultEvent"]:
            failures.append(f"{tally.keypad['BoltFaultEvent']} keypad unlocks jammed on the locks, "
                            f"{at_keypad['failed']} failed pin_code lock.action_completed events")
        if incorrect != tally.keypad["IncorrectPinEvent"]:
            failures.append(f"{tally.keypad['IncorrectPinEvent']} wrong PINs typed, "
                            f"{incorrect} access_code.incorrect_attempt events")
        return failures

    def delivery_order(self) -> list[str]:
        """Per device, the first delivery of each event arrives in device_seq order."""
        seen: set[str] = set()
        last: dict[str, int] = {}
        failures = []
        for payload in self.system.receiver.payloads():
            if payload["event_id"] in seen:
                continue
            seen.add(payload["event_id"])
            device, seq = payload.get("device_id"), payload.get("sequence")
            if device is None or seq is None:
                continue
            if seq <= last.get(device, 0):
                failures.append(f"device {device}: seq {seq} delivered after {last[device]}")
            last[device] = seq
        return failures


def run_chaos(config: ChaosConfig, database_url: str | None = None, log: Any = print) -> Outcome:
    """The whole scenario; returns the figures and the list of failed checks."""
    reason = missing_piece()
    if reason:
        raise RuntimeError(f"chaos cannot run: {reason}")
    with contextlib.ExitStack() as stack:
        if database_url is None:
            if postgres_available() is None:
                database_url = stack.enter_context(postgres_database("chaos"))
            else:
                database_url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/chaos.db"
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        system = ChaosSystem(config, database_url, workdir)
        stack.callback(system.stop)
        system.seed()
        for name in ("web", "dispatcher", "agent"):
            system.start(name)
        tally = Tally()
        load = Load(system, tally, random.Random(config.seed))
        checker = Checker(system)
        log(f"chaos: {config.locks} locks, {config.duration:.0f} s of load, kills {config.kills}")

        start = time.monotonic()
        kills = sorted(config.kills)
        pace = 1.0 / config.ops_per_second
        while (elapsed := time.monotonic() - start) < config.duration:
            if kills and elapsed >= kills[0][0]:
                _, name = kills.pop(0)
                tally.kills.append(system.kill(name))
                log(f"  t={elapsed:5.1f}s {tally.kills[-1]}")
                continue
            step_start = time.monotonic()
            load.step()
            time.sleep(max(0.0, pace - (time.monotonic() - step_start)))
        load_seconds = time.monotonic() - start
        log(f"chaos: load done ({sum(tally.ops.values())} operations); settling")

        load_end = time.monotonic()

        def since_load_end(predicate: Any, interval: float = 0.5) -> float | None:
            held = _wait(predicate, config.settle_timeout, interval)
            return None if held is None else time.monotonic() - load_end

        settled_after = since_load_end(lambda: not any(checker.unsettled().values()))
        converged_after = since_load_end(checker.tables_equal, interval=1.0)
        delivered_after = since_load_end(lambda: not checker.undelivered())

        failures = []
        unsettled = checker.unsettled()
        if any(unsettled.values()):
            failures.append(f"stuck after {config.settle_timeout:.0f} s: {unsettled}")
        undelivered = checker.undelivered()
        if undelivered:
            failures.append(f"{len(undelivered)} events never reached the receiver")
        tables = {}
        try:
            tables = checker.tables()
        except (OSError, ValueError, requests.RequestException) as err:
            failures.append(f"could not read the code tables: {err}")
        for lock, (cloud, on_lock) in tables.items():
            names = Counter(name for _, name in on_lock)
            twice = [name for name, n in names.items() if n > 1]
            if twice:
                failures.append(f"lock {lock}: codes on the lock twice: {twice}")
            if cloud != on_lock:
                failures.append(f"lock {lock}: cloud {cloud} != lock {on_lock}")
        if converged_after is None:
            failures.append("cloud and lock code tables never became identical")
        failures += checker.event_coverage(tally)
        failures += checker.delivery_order()
        if tally.errors.get("HTTP 500 locks") or any(k.startswith("HTTP 5") for k in tally.errors):
            failures.append(f"server errors under load: {dict(tally.errors)}")

        received = system.receiver.event_ids()
        figures = {
            "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
            "locks": config.locks,
            "load seconds": round(load_seconds, 1),
            "operations": dict(tally.ops),
            "operations total": sum(tally.ops.values()),
            "HTTP statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
            "client-side errors (retried)": dict(tally.errors),
            "keypad outcomes": dict(tally.keypad),
            "BLE faults injected": dict(tally.faults),
            "kills": tally.kills,
            "events in outbox": len(checker.event_ids()),
            "webhook deliveries received": len(received),
            "distinct events received": len(set(received)),
            "duplicate deliveries": len(received) - len(set(received)),
            # Seconds from the end of the load until each held (target for the tables: 30 s).
            "nothing pending, s after load": None if settled_after is None else round(settled_after, 1),
            "cloud and lock tables identical, s after load": None if converged_after is None
            else round(converged_after, 1),
            "every event delivered, s after load": None if delivered_after is None else round(delivered_after, 1),
            "codes on locks": sum(len(on_lock) for _, on_lock in tables.values()),
        }
        if failures:
            log(system.logs())
        return Outcome(figures, failures)


# ---------------------------------------------------------------- receiver down for a day

def receiver_down_for_a_day(app: Any, clock: Any, *, locks: int = 3, hours: int = 24) -> dict[str, Any]:
    """Inside `app`'s context, with `clock` frozen: a day of events while the receiver
    answers 503, then the receiver comes back; returns the figures (the caller asserts)."""
    from provider.dispatcher import Dispatcher, Settings
    from provider.extensions import db
    from provider.models import Event
    from provider.services import bridges, webhooks
    from provider.services import locks as locks_service
    from provider.services.accounts import ensure_account
    from provider.services.events import record_event
    from tests.provider.webhooks.receiver import Receiver, Reply

    state = {"up": False}
    delivered: list[dict[str, Any]] = []

    def respond(got: Any) -> Any:
        if not state["up"]:
            return Reply(503)
        delivered.append(got.json)
        return Reply(204)

    receiver = Receiver(respond).start()
    dispatcher = Dispatcher(app, settings=Settings(timeout=2.0, lease=10.0, concurrency=4,
                                                   idle_sleep=0.01, prune_every=1e9), sweep=lambda: None)
    try:
        webhooks.create_webhook(receiver.url, None)
        owner = ensure_account("day@chaos.example", "pw")
        bridge, _ = bridges.create_bridge(owner.id, "gw")
        rows = [locks_service.add_lock(owner_id=owner.id, bridge=bridge, name=f"L{i}",
                                       ble_address=f"C4:D0:00:00:00:{i:02X}") for i in range(locks)]
        db.session.commit()
        start = clock.now()
        for hour in range(hours):
            for index, lock in enumerate(rows):
                if (hour + index) % 2 == 0:
                    record_event("battery.low", device=lock, data={"lock_id": lock.id, "hour": hour})
            db.session.commit()
            dispatcher.drain()
            clock.advance(3600)
        down_for = clock.now() - start
        attempts_while_down = len(receiver.received)
        delivered_while_down = len(delivered)

        state["up"] = True
        expected = {e.event_id for e in db.session.query(Event).all()}
        back_at = clock.now()
        for _ in range(96):
            dispatcher.drain()
            if {p["event_id"] for p in delivered} >= expected:
                break
            clock.advance(1800)
        first: list[dict[str, Any]] = []
        seen: set[str] = set()
        for payload in delivered:
            if payload["event_id"] not in seen:
                seen.add(payload["event_id"])
                first.append(payload)
        per_device: dict[str, list[int]] = defaultdict(list)
        for payload in first:
            per_device[payload["device_id"]].append(payload["sequence"])
        return {
            "events": len(expected),
            "devices": len(per_device),
            "receiver down for (simulated hours)": round(down_for.total_seconds() / 3600, 1),
            "attempts while down (all answered 503)": attempts_while_down,
            "delivered while down": delivered_while_down,
            "delivered after it came back": len(seen & expected),
            "missing": len(expected - seen),
            "all delivered within (simulated hours after it came back)":
                round((clock.now() - back_at).total_seconds() / 3600, 1),
            "devices delivered out of order": sum(1 for seqs in per_device.values() if seqs != sorted(seqs)),
        }
    finally:
        dispatcher.close()
        receiver.stop()


# ---------------------------------------------------------------- schemathesis long run

def run_schemathesis(max_examples: int, base_url: str, headers: dict[str, str], log: Any = print) -> dict:
    """schemathesis over the whole spec against a live server (see bench/schemathesis_run.py)."""
    from bench.schemathesis_run import run as run_st

    return run_st(max_examples=max_examples, base_url=base_url, headers=headers, log=log)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-schemathesis", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "docs" / "reliability.md"))
    args = parser.parse_args()
    from bench.reliability import write_report

    return write_report(quick=args.quick, skip_schemathesis=args.skip_schemathesis, output=Path(args.output))


if __name__ == "__main__":
    sys.exit(main())
