"""Fakes at the agent's two seams: an in-memory lock (LockConnector/LockSession)
and an in-memory provider (the ProviderApi methods the agent calls)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge_contract import LOCK_JAMMED, SLOT_OCCUPIED
from firmware_bridge.agent.config import AgentConfig
from firmware_bridge.agent.model import (
    CodeEntry,
    LinkLost,
    LockEvent,
    LockInfo,
    LockOffline,
    LockOperationError,
    LockStatus,
    SlotEmpty,
)
from firmware_bridge.agent.provider_api import ProviderError

KEY = bytes(range(16))


def agent_config(state_dir, **overrides: Any) -> AgentConfig:
    """A configuration for tests: fast retries, no surprise visits."""
    settings: dict[str, Any] = dict(
        provider_url="http://provider.test", bridge_token="secret-token", backend="virtual",
        state_dir=state_dir, poll_wait=1, heartbeat_interval=0.05, idle_disconnect=30.0,
        poll_interval=60.0, reconcile_interval=600.0, connect_attempts=1, reconnect_max=0.05,
        retry_max=0.05)
    settings.update(overrides)
    return AgentConfig(**settings)


def lock_info(n: int = 1, last_event_seq: int = 0) -> LockInfo:
    return LockInfo(
        lock_id=f"lock-{n}",
        name=f"Door {n}",
        ble_address=f"AA:00:00:00:00:0{n}",
        device_key=KEY,
        timezone="Europe/Paris",
        last_event_seq=last_event_seq,
    )


@dataclass
class FakeLock:
    """A lock's state as the bridge sees it over BLE."""

    bolt: str = "locked"
    codes: dict[int, CodeEntry] = field(default_factory=dict)
    events: list[LockEvent] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)
    timezone: str = "Europe/Paris"
    battery: int = 90
    reachable: bool = True
    jam_next: bool = False
    drop_link_after_next: bool = False  # the operation happens, the answer is lost
    drop_link_before_next: bool = False  # the link drops before the operation happens
    operations: list[tuple[str, Any]] = field(default_factory=list)
    connects: int = 0
    op_delay: float = 0.0  # seconds each operation takes (a motor move)

    def log(self, type_: str, **data: Any) -> LockEvent:
        event = LockEvent(
            seq=len(self.events) + 1, type=type_, occurred_at=datetime.now(UTC), data=data
        )
        self.events.append(event)
        return event

    def enter_pin(self, pin: str) -> bool:
        for slot, entry in self.codes.items():
            if entry.code == pin:
                self.bolt = "unlocked"
                self.log("unlocked", source="keypad", slot=slot)
                return True
        self.log("incorrect_pin", pin=pin)
        return False


class FakeSession:
    def __init__(self, lock: FakeLock) -> None:
        self.fake = lock
        self._connected = True

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def _op(self, name: str, arg: Any = None) -> None:
        await asyncio.sleep(self.fake.op_delay)
        if not self._connected:
            raise LinkLost("not connected")
        if self.fake.drop_link_before_next:
            self.fake.drop_link_before_next = False
            self._connected = False
            raise LinkLost("dropped")
        self.fake.operations.append((name, arg))

    def _after(self) -> None:
        if self.fake.drop_link_after_next:
            self.fake.drop_link_after_next = False
            self._connected = False
            raise LinkLost("answer lost")

    async def status(self) -> LockStatus:
        await self._op("status")
        return LockStatus(
            lock_state=self.fake.bolt,
            door_state="closed",
            battery_level=self.fake.battery,
            device_time=datetime.now(UTC) + self.fake.clock_offset,
            timezone=self.fake.timezone,
            code_count=len(self.fake.codes),
        )

    async def _bolt(self, target: str) -> None:
        await self._op(target)
        if self.fake.jam_next:
            self.fake.jam_next = False
            self.fake.log("jammed")
            raise LockOperationError(LOCK_JAMMED, "bolt jammed")
        self.fake.bolt = target
        self.fake.log(target, source="ble", slot=None)
        self._after()

    async def lock(self) -> None:
        await self._bolt("locked")

    async def unlock(self) -> None:
        await self._bolt("unlocked")

    async def set_time(self, when: datetime, timezone: str) -> None:
        await self._op("set_time", timezone)
        self.fake.clock_offset = when - datetime.now(UTC)
        self.fake.timezone = timezone

    async def put_code(self, entry: CodeEntry, *, replace: bool = True) -> None:
        await self._op("put_code", entry.slot)
        stored = dataclasses.replace(entry, name=entry.name[:14])
        if not replace and self.fake.codes.get(entry.slot) not in (None, stored):
            raise LockOperationError(SLOT_OCCUPIED, "slot occupied")
        self.fake.codes[entry.slot] = stored
        self._after()

    async def delete_code(self, slot: int) -> None:
        await self._op("delete_code", slot)
        if slot not in self.fake.codes:
            raise SlotEmpty()
        del self.fake.codes[slot]
        self._after()

    async def list_codes(self) -> list[CodeEntry]:
        await self._op("list_codes")
        return [self.fake.codes[slot] for slot in sorted(self.fake.codes)]

    async def read_events(self, since_seq: int) -> list[LockEvent]:
        await self._op("read_events", since_seq)
        return [event for event in self.fake.events if event.seq > since_seq][:16]

    async def disconnect(self) -> None:
        self._connected = False

    key_index = 0  # the fake lock has one key

    async def rotate_key(self, rotation_id: int, new_key: bytes) -> None:
        await self._op("rotate_key", rotation_id)
        self._after()


class FakeConnector:
    def __init__(self, locks: dict[str, FakeLock]) -> None:
        self.locks = locks
        self.sessions: list[FakeSession] = []

    async def connect(self, lock: LockInfo, on_activity) -> FakeSession:
        await asyncio.sleep(0)
        fake = self.locks[lock.lock_id]
        if not fake.reachable:
            raise LockOffline("not advertising")
        fake.connects += 1
        session = FakeSession(fake)
        self.sessions.append(session)
        return session


class FakeProvider:
    """The bridge API's behaviour, in memory: leases, idempotent results, unique event seqs."""

    def __init__(self, locks: list[LockInfo]) -> None:
        self.lock_infos = locks
        self.results: dict[str, dict[str, Any]] = {}
        self.result_posts: list[str] = []
        self.events: dict[tuple[str, int], dict[str, Any]] = {}
        self.event_order: list[tuple[str, int]] = []
        self.heartbeats: list[list[dict[str, Any]]] = []
        self.desired: dict[str, list[dict[str, Any]]] = {}
        self.removing: dict[str, list[dict[str, Any]]] = {}  # the desired table's `remove`
        self.offline: dict[str, dict[str, Any]] = {}  # the desired table's `offline` (secret to install)
        self.revocations: dict[str, list[dict[str, Any]]] = {}  # ... and `offline_revocations`
        self.code_syncs: list[tuple[str, dict[str, Any]]] = []
        self.duplicate_events = 0
        self.down = False
        self.poll_resume_flags: list[bool] = []
        self.fail_next_results = 0
        self.rebind()

    async def aclose(self) -> None:
        pass

    def rebind(self) -> None:
        """Fresh asyncio primitives, for a second asyncio.run() (an agent restart)."""
        self.queue = asyncio.Queue()
        self.changed = asyncio.Condition()

    def queue_command(self, command_id: str, lock_id: str, type_: str, *, request_id: str | None = None,
                      **params: Any) -> None:
        self.queue.put_nowait(
            {
                "command_id": command_id,
                "lock_id": lock_id,
                "type": type_,
                "params": params,
                "attempt": 1,
                "expires_at": None,
                "request_id": request_id,
            }
        )

    async def _touch(self) -> None:
        if self.down:
            raise ProviderError("connection refused")
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        async def _wait() -> None:
            async with self.changed:
                await self.changed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout)

    async def locks(self):
        await self._touch()
        return "bridge-1", list(self.lock_infos)

    async def commands(self, wait: float, limit: int = 20, *, resume: bool = False):
        from firmware_bridge.agent.model import Command

        self.poll_resume_flags.append(resume)
        if self.down:
            await asyncio.sleep(0.01)
            raise ProviderError("connection refused")
        try:
            item = await asyncio.wait_for(self.queue.get(), min(wait, 0.05))
        except TimeoutError:
            return []
        return [Command.from_api(item)]

    async def report_result(self, command_id: str, result: dict[str, Any]) -> dict[str, Any]:
        while self.down or self.fail_next_results:
            if self.fail_next_results:
                self.fail_next_results -= 1
            await asyncio.sleep(0.01)  # ProviderApi.deliver retries until confirmed
        self.result_posts.append(command_id)
        duplicate = command_id in self.results
        self.results.setdefault(command_id, result)
        await self._touch()
        return {"ok": True, "duplicate": duplicate}

    async def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        while self.down:
            await asyncio.sleep(0.01)
        accepted = 0
        for event in events:
            key = (event["lock_id"], event["lock_seq"])
            if key not in self.events:
                self.events[key] = event
                self.event_order.append(key)
                accepted += 1
            else:
                self.duplicate_events += 1
        await self._touch()
        return {"accepted": accepted, "duplicates": len(events) - accepted}

    async def heartbeat(self, locks: list[dict[str, Any]]) -> dict[str, Any]:
        await self._touch()
        self.heartbeats.append(locks)
        async with self.changed:
            self.changed.notify_all()
        return {"ok": True}

    async def desired_codes(self, lock_id: str) -> dict[str, Any]:
        await self._touch()
        return {"access_codes": list(self.desired.get(lock_id, [])),
                "remove": list(self.removing.get(lock_id, [])),
                "offline": self.offline.get(lock_id), "offline_revocations": list(self.revocations.get(lock_id, []))}

    async def code_sync(self, lock_id: str, report: dict[str, Any]) -> dict[str, Any]:
        self.code_syncs.append((lock_id, report))
        await self._touch()
        return {"ok": True}
