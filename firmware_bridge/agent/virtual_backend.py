"""The `virtual` backend: the bridge's locks as virtual locks inside the agent process.

Each lock the provider lists becomes a `VirtualLock` behind a Bumble GATT
peripheral at the lock's `ble_address`, on one in-process `VirtualWorld`
link; the agent reaches them with the very `LockClient` it uses for real
locks.  A virtual lock's state (bolt, codes, event log, clock) is its
"flash": saved under the state dir, encrypted (AES-GCM) with a key derived from
the device key for that purpose alone (``derive_storage_key(key, b"state")``,
never the device key itself), so that an agent restart finds the locks as it
left them, like a real gateway restart would. A virtual lock advertises its
model name, never the owner's name for it (an advertisement is public: "Anna's
front door" under a static address would let anyone nearby track it).

A control endpoint (JSON lines on 127.0.0.1, port and a random token in
<state dir>/control.json, mode 0600) lets `firmware-bridge keypad`, `firmware-bridge keypad-program` and
`firmware-bridge fault` act on the locks: type a PIN, program a code in the
keypad's master mode, jam the next move, drop the battery, drop the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import bridge_contract as contract
from firmware_bridge.agent.links import LockClientConnector
from firmware_bridge.agent.model import LockInfo, LockOffline
from firmware_bridge.bumble_backend.world import VirtualWorld
from firmware_bridge.control_channel import request_json_line, serve_json_lines
from firmware_bridge.lock_client import Timeouts
from firmware_bridge.protocol.const import Opcode
from firmware_bridge.protocol.crypto import derive_storage_key, parse_device_key
from firmware_bridge.simulator.engines import default_engine, engine_of, lock_from_dict, new_lock

_LOGGER = logging.getLogger(__name__)

CONTROL_FILE = "control.json"
SAVE_INTERVAL = 0.25  # seconds between checks for changed lock state to save
_AAD = b"firmware-bridge virtual lock v2"
_STATE_PURPOSE = b"state"
#: What a virtual lock advertises: its model, nothing personal.
ADVERTISED_NAME = "VL-1"
#: Control operations that change what the lock logs or reports: the worker is woken to read it.
EVENT_OPS = {"enter_pin", "manual_turn", "press_lock_button", "set_door", "tamper", "set_battery",
             "skew_clock", "program_code"}
#: Friendly fault names (`firmware-bridge fault NAME [VALUE]`) -> world control requests.
FAULTS: dict[str, Callable[[str | None], dict[str, Any]]] = {
    "jam": lambda _v: {"op": "fault", "name": "jam_next", "value": True},
    "obstruct": lambda _v: {"op": "fault", "name": "obstruct_next", "value": True},
    "busy": lambda _v: {"op": "fault", "name": "busy_next", "value": True},
    "storage-full": lambda v: {"op": "fault", "name": "storage_full", "value": v != "off"},
    "slow": lambda v: {"op": "fault", "name": "response_delay", "value": float(v or 1.0)},
    "drop-notifications": lambda v: {"op": "fault", "name": "drop_notifications", "value": int(v or 1)},
    "disconnect-mid-command": lambda _v: {"op": "fault", "name": "disconnect_mid_command", "value": True},
    "disconnect-mid-response": lambda _v: {"op": "fault", "name": "disconnect_mid_response", "value": True},
    # Drop the link when the lock gets / has acted on a request: `disconnect-after COMMIT_KEY`.
    "disconnect-before": lambda v: {"op": "fault", "name": "disconnect_before_opcode",
                                    "value": int(Opcode[str(v or "").upper()])},
    "disconnect-after": lambda v: {"op": "fault", "name": "disconnect_after_opcode",
                                   "value": int(Opcode[str(v or "").upper()])},
    "battery": lambda v: {"op": "set_battery", "percent": float(v if v is not None else 10)},
    "unreachable": lambda v: {"op": "refuse_advertising", "seconds": float(v or 30)},
    "disconnect": lambda _v: {"op": "disconnect"},
    "door": lambda v: {"op": "set_door", "state": v or "open"},
    "manual-turn": lambda _v: {"op": "manual_turn"},
    "tamper": lambda _v: {"op": "tamper"},
    "clock-skew": lambda v: {"op": "skew_clock", "seconds": float(v or 3600)},
}


def _state_key(device_key: bytes | str) -> bytes:
    return derive_storage_key(parse_device_key(device_key), _STATE_PURPOSE)


def _seal(device_key: bytes | str, data: dict[str, Any]) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_state_key(device_key)).encrypt(nonce, json.dumps(data).encode(), _AAD)


def _open(device_key: bytes | str, blob: bytes) -> dict[str, Any]:
    plain = AESGCM(_state_key(device_key)).decrypt(blob[:12], blob[12:], _AAD)
    result: dict[str, Any] = json.loads(plain)
    return result


class VirtualBackend:
    def __init__(self, state_dir: Path, control: bool = True, control_port: int = 0,
                 engine: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.engine = engine or default_engine()
        self.locks_dir = self.state_dir / "virtual-locks"
        self.control = control
        self.control_port = control_port
        self.world = VirtualWorld()
        self._infos: dict[str, LockInfo] = {}  # lock_id -> info
        self._saved: dict[str, str] = {}  # lock_id -> last saved JSON (to save only changes)
        self._poke: Callable[[str], None] = lambda _lock_id: None
        self._saver: asyncio.Task[None] | None = None
        self._control_server: asyncio.Server | None = None
        self._control_token = secrets.token_urlsafe(24)

    # ------------------------------------------------------------------ Backend
    async def start(self, locks: list[LockInfo], poke: Callable[[str], None]) -> LockClientConnector:
        self._poke = poke
        await self.world.start()
        await self.locks_changed(locks)
        self._saver = asyncio.create_task(self._save_loop(), name="virtual lock saver")
        if self.control:
            await self._serve_control()
        # A virtual lock advertises every 20 ms: if it is not found within 2 s it is not there.
        timeouts = Timeouts(connect=2.0, connect_attempts=2)
        return LockClientConnector(self.world.backend, device_for=self._device_for, timeouts=timeouts)

    async def locks_changed(self, locks: list[LockInfo]) -> None:
        for lock in locks:
            if lock.lock_id not in self._infos:
                try:
                    await self._add(lock)
                except (ValueError, KeyError) as err:  # one bad registration must not stop the others
                    _LOGGER.error("%s: cannot host a virtual lock at %s: %s", lock.name, lock.ble_address, err)
                    continue
            self._infos[lock.lock_id] = lock
        # A lock this bridge no longer serves (moved to another bridge, unclaimed) leaves its
        # radio range here: another bridge's world may host it now under the same address.
        served = {lock.lock_id for lock in locks}
        for lock_id in [lock_id for lock_id in self._infos if lock_id not in served]:
            info = self._infos.pop(lock_id)
            self._saved.pop(lock_id, None)
            with contextlib.suppress(KeyError):
                await self.world.remove_lock(info.ble_address)
            _LOGGER.info("%s: no longer served here; its virtual lock is gone", info.name)

    async def close(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
        self.save_all()
        if self._control_server is not None:
            self._control_server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._control_server.wait_closed(), 1.0)
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / CONTROL_FILE).unlink()
        await self.world.close()

    # ------------------------------------------------------------------ locks
    def _device_for(self, lock: LockInfo) -> Any:
        try:
            return self.world.ble_device(lock.ble_address)
        except KeyError as err:
            raise LockOffline(f"no virtual lock at {lock.ble_address}") from err

    def _path(self, lock_id: str) -> Path:
        return self.locks_dir / f"{lock_id}.bin"

    async def _add(self, info: LockInfo) -> None:
        path = self._path(info.lock_id)
        lock: Any = None
        if path.exists():
            # Sealed under the key the lock held; with a rotation pending that may be either.
            error: Exception | None = None
            for key in (info.device_key, info.pending_device_key):
                if key is None:
                    continue
                try:
                    lock = lock_from_dict(_open(key, path.read_bytes()), device_key=key)
                    break
                except (InvalidTag, ValueError, KeyError) as err:
                    error = err
            if lock is None and error is not None:
                _LOGGER.warning("%s: saved virtual lock state unreadable (%s); starting afresh",
                                info.name, type(error).__name__)
            if lock is not None and engine_of(lock) != self.engine:
                _LOGGER.warning("%s: saved state is of the %s engine, this agent runs %s; starting afresh",
                                info.name, engine_of(lock), self.engine)
                lock = None
        if lock is None:
            lock = new_lock(self.engine, device_key=info.device_key, name=info.name[:contract.NAME_MAX_CHARS],
                            capacity=info.code_capacity)
        # A real lock's event log never runs backwards. Saved state can be up to
        # SAVE_INTERVAL old after a kill -9, and a fresh lock has none: either way
        # the log continues after what the cloud already has, or its next events
        # would reuse sequence numbers the cloud has accepted (and be dropped as
        # re-sent). What the saved state missed was forwarded already.
        lock.continue_after(info.last_event_seq)
        await self.world.add_lock(lock, device_key=info.device_key, address=info.ble_address, name=ADVERTISED_NAME)
        _LOGGER.info("%s: virtual lock at %s (%s engine, %d code(s))", info.name, info.ble_address,
                     engine_of(lock), len(lock.codes))

    def lock(self, lock_id: str) -> Any:
        return self.world.lock(self._infos[lock_id].ble_address)

    def save_all(self) -> None:
        for lock_id in list(self._infos):
            self._save(lock_id)

    def _save(self, lock_id: str) -> None:
        info = self._infos[lock_id]
        try:
            state = self.world.lock(info.ble_address).to_dict()
        except KeyError:
            return
        comparable = json.dumps({k: v for k, v in state.items() if k != "clock"}, sort_keys=True)
        if self._saved.get(lock_id) == comparable:
            return
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        path = self._path(lock_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            held = getattr(self.world.lock(info.ble_address), "device_key", None) or info.device_key
            handle.write(_seal(held, state))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        self._saved[lock_id] = comparable

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            try:
                self.save_all()
            except OSError as err:
                _LOGGER.error("saving virtual lock state: %s", err)

    # ------------------------------------------------------------------ control
    def resolve(self, ref: str) -> LockInfo:
        """A lock by id, name (case-insensitive) or BLE address."""
        for info in self._infos.values():
            if ref in (info.lock_id, info.ble_address) or info.name.lower() == ref.lower():
                return info
        raise KeyError(f"no virtual lock {ref!r} here")

    async def handle_control(self, request: dict[str, Any]) -> dict[str, Any]:
        if not secrets.compare_digest(str(request.get("token", "")), self._control_token):
            return {"ok": False, "error": "bad control token"}
        op = request.get("op")
        if op == "locks":
            return {"ok": True, "locks": [
                {"lock_id": i.lock_id, "name": i.name, "ble_address": i.ble_address,
                 "bolt": self.lock(i.lock_id).bolt.name.lower(),
                 "battery_percent": self.lock(i.lock_id).battery_percent,
                 "battery": round(self.lock(i.lock_id).battery, 6)}
                for i in self._infos.values()]}
        try:
            info = self.resolve(str(request.get("lock", "")))
        except KeyError as err:
            return {"ok": False, "error": str(err.args[0])}
        lock = self.lock(info.lock_id)
        if op == "disconnect":
            await self.world.peripheral(info.ble_address).drop_connections()
            answer: dict[str, Any] = {"ok": True}
        elif op == "skew_clock":
            lock.skew_clock(float(request.get("seconds", 0)))
            answer = {"ok": True}
        elif op == "codes":
            answer = {"ok": True, "codes": [
                {"slot": c.slot, "name": c.name, "starts_at": c.starts_at, "ends_at": c.ends_at}
                for c in sorted(lock.codes.values(), key=lambda c: c.slot)]}
        else:
            forwarded = {k: v for k, v in request.items() if k not in ("token", "lock")}
            answer = self.world.handle_control({**forwarded, "address": info.ble_address})
        answer.update(lock_id=info.lock_id, name=info.name)
        if answer.get("ok") and op in EVENT_OPS:
            self._poke(info.lock_id)  # forward the event now rather than at the next visit
        self._save(info.lock_id)
        return answer

    async def _serve_control(self) -> None:
        self._control_server = await serve_json_lines(self.handle_control, "127.0.0.1", self.control_port)
        port = self._control_server.sockets[0].getsockname()[1]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / CONTROL_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"host": "127.0.0.1", "port": port, "token": self._control_token, "pid": os.getpid()},
                      handle)
        tmp.replace(path)
        _LOGGER.info("virtual lock control on 127.0.0.1:%d (firmware-bridge keypad / fault)", port)


def find_control(state_dirs: list[Path]) -> list[dict[str, Any]]:
    """Control endpoints of running virtual-mode agents under these state dirs (and one level down)."""
    found = []
    for base in state_dirs:
        for path in [base / CONTROL_FILE, *sorted(base.glob(f"*/{CONTROL_FILE}"))]:
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
    return found


async def _ask(endpoint: dict[str, Any], request: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        return await request_json_line(endpoint["host"], endpoint["port"],
                                       {**request, "token": endpoint["token"]}, timeout)
    except (OSError, TimeoutError, ValueError) as err:
        return {"ok": False, "error": f"agent at port {endpoint.get('port')}: {err or type(err).__name__}"}


async def control_request(endpoints: list[dict[str, Any]], request: dict[str, Any],
                          timeout: float = 10.0) -> dict[str, Any]:
    """Sends a request to the one agent whose virtual lock matches request["lock"]
    (`op: locks` is answered by all of them, merged)."""
    answers = [await _ask(endpoint, {"op": "locks"}, timeout) for endpoint in endpoints]
    listed = [(endpoint, lock) for endpoint, answer in zip(endpoints, answers, strict=True)
              for lock in answer.get("locks", [])]
    if request.get("op") == "locks":
        if not answers or not any(answer.get("ok") for answer in answers):
            return answers[0] if answers else {"ok": False, "error": "no running virtual-mode bridge agent"}
        return {"ok": True, "locks": [lock for _, lock in listed]}
    ref = str(request.get("lock", ""))
    matches = [(endpoint, lock) for endpoint, lock in listed
               if ref in (lock["lock_id"], lock["ble_address"]) or lock["name"].lower() == ref.lower()]
    if not matches:
        reasons = "; ".join(a["error"] for a in answers if not a.get("ok"))
        return {"ok": False, "error": f"no virtual lock {ref!r}" + (f" ({reasons})" if reasons else "")}
    if len(matches) > 1:
        ids = ", ".join(lock["lock_id"] for _, lock in matches)
        return {"ok": False, "error": f"{ref!r} names several locks; use the lock id: {ids}"}
    endpoint, lock = matches[0]
    return await _ask(endpoint, {**request, "lock": lock["lock_id"]}, timeout)
