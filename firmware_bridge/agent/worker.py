"""One worker per lock: one operation at a time on that lock, several locks in parallel.

A worker owns its lock's BLE session.  It connects when there is work (a
command, a notification, a periodic visit), keeps the link while commands
are queued, and drops it after `idle_disconnect` seconds of quiet.  After
each command, once its queue is empty, it does its housekeeping on the open
link: read the status (clock drift -> set_time), read the event log after
the last sequence it has read, and reconcile the code table when due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bridge_contract as contract
from firmware_bridge.agent.config import AgentConfig
from firmware_bridge.agent.journal import STARTED, Journal
from firmware_bridge.agent.model import (
    CodeEntry,
    Command,
    LinkLost,
    LockConnector,
    LockEvent,
    LockInfo,
    LockOffline,
    LockOperationError,
    LockSession,
    LockStatus,
    Result,
    SlotEmpty,
    Unsupported,
)
from firmware_bridge.agent.provider_api import Backoff, ProviderApi, ProviderError

_LOGGER = logging.getLogger(__name__)

EVENT_BATCH = 50
_WAKE = object()
_STOP = object()


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def isoformat_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _second(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(microsecond=0) if value else None


def same_code(a: CodeEntry, b: CodeEntry) -> bool:
    """Equal as the lock stores them: name truncated to what it shows, times to the second."""
    shown = contract.NAME_MAX_CHARS
    return (a.slot == b.slot and a.code == b.code and a.name[:shown] == b.name[:shown]
            and _second(a.starts_at) == _second(b.starts_at) and _second(a.ends_at) == _second(b.ends_at))


def desired_entry(item: dict[str, Any]) -> CodeEntry:
    schedule = item.get("schedule") or None
    return CodeEntry(slot=int(item["slot"]), code=str(item["code"]), name=item.get("device_name") or "",
                     starts_at=parse_time(item.get("starts_at")), ends_at=parse_time(item.get("ends_at")),
                     tz_rule=schedule["tz_rule"] if schedule else None,
                     windows=tuple((int(d), int(a), int(b)) for d, a, b in schedule["windows"]) if schedule else ())


def found_entry(entry: CodeEntry) -> dict[str, Any]:
    """A code on the lock that the cloud did not ask for, as code_sync reports it."""
    return {"slot": entry.slot, "code": entry.code, "name": entry.name or None,
            "starts_at": isoformat_z(entry.starts_at) if entry.starts_at else None,
            "ends_at": isoformat_z(entry.ends_at) if entry.ends_at else None}


@dataclass
class Hooks:
    """What a worker needs from the agent around it."""

    report: Callable[[Command, Result], None]  # hand a result to the reporter (never blocks)
    heartbeat_now: Callable[[], Awaitable[None]]  # send a heartbeat at once
    status_changed: Callable[[], None]  # online/offline flipped: heartbeat soon


class LockWorker:
    def __init__(self, lock: LockInfo, connector: LockConnector, api: ProviderApi, journal: Journal,
                 config: AgentConfig, hooks: Hooks, now: Callable[[], datetime] = utcnow) -> None:
        self.lock = lock
        self._connector = connector
        self._api = api
        self._journal = journal
        self._config = config
        self._hooks = hooks
        self._now = now
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pending: set[str] = set()  # command ids queued, running or parked
        self._parked: list[Command] = []  # deferrable commands waiting for the lock to come back
        self._wake_queued = False
        self._session: LockSession | None = None
        self._last_work = 0.0
        self._next_visit = 0.0
        self._offline_backoff = Backoff(base=1.0, ceiling=config.reconnect_max)
        self.online: bool | None = None  # None until the first attempt
        self.status: LockStatus | None = None
        self._status_at: datetime | None = None
        #: Highest event-log sequence read from the lock (forwarding may lag behind).
        self.read_seq = lock.last_event_seq
        self._outbox: list[dict[str, Any]] = []
        self._outbox_ready = asyncio.Event()
        self._needs_status = True
        self._needs_events = True
        self._needs_reconcile = True
        self._last_reconcile = 0.0
        # How many codes the lock held when last read; None after our own code writes.
        self._code_count: int | None = None
        # The offline-code secret generation installed on the lock by this process (None: not yet).
        self._offline_generation: int | None = None
        self.connects = 0  # for tests and the benchmark's connection-policy figures
        self._stopping = False

    # ------------------------------------------------------------------ inputs
    def submit(self, command: Command) -> bool:
        """Queues a command unless the same id is already queued, running or parked."""
        if command.command_id in self._pending:
            return False
        self._pending.add(command.command_id)
        self._queue.put_nowait(command)
        return True

    def poke(self) -> None:
        """The lock has something to say (a notification, a keypad press in the sandbox)."""
        self._needs_events = True
        self._needs_status = True
        if not self._wake_queued:
            self._wake_queued = True
            self._queue.put_nowait(_WAKE)

    def stop(self) -> None:
        """Finish the operation under way (never cut a lock off mid-command), then return."""
        self._stopping = True
        self._queue.put_nowait(_STOP)

    def update_info(self, lock: LockInfo) -> None:
        self.lock = lock

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.is_connected

    def heartbeat_entry(self) -> dict[str, Any] | None:
        if self.online is None:
            return None
        entry: dict[str, Any] = {"lock_id": self.lock.lock_id, "online": self.online}
        status = self.status
        if status is not None:
            device_time = status.device_time
            if self._status_at is not None:  # the lock's clock kept running since we read it
                device_time = device_time + (self._now() - self._status_at)
            entry.update(battery_level=status.battery_level, signal_quality=status.signal_quality,
                         lock_state=status.lock_state, door_state=status.door_state,
                         device_time=isoformat_z(device_time))
            if status.rssi_dbm is not None:
                entry["rssi"] = status.rssi_dbm
            if status.firmware_version:
                entry["firmware_version"] = status.firmware_version[:contract.FIRMWARE_VERSION_MAX_CHARS]
            for name in ("auto_lock_enabled", "auto_lock_delay_seconds", "keypad_battery_level"):
                if getattr(status, name) is not None:
                    entry[name] = getattr(status, name)
            if status.timezone == self.lock.timezone:
                # The cloud owns the timezone: a lock that lost it is corrected, never believed.
                entry["timezone"] = status.timezone
        return entry

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        forwarder = asyncio.create_task(self._forward_loop(), name=f"events {self.lock.name}")
        try:
            while not self._stopping:
                item = await self._next_item()
                if self._stopping:
                    break  # queued commands stay with the provider, which hands them out again
                try:
                    if isinstance(item, Command):
                        await self._run_command(item)
                    else:
                        if item is _WAKE:
                            self._wake_queued = False
                        await self._tick(woken=item is _WAKE)
                    if self._queue.empty() and self.connected:
                        await self._housekeeping()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a worker never dies of one bad round
                    _LOGGER.exception("%s: unexpected error; dropping the link", self.lock.name)
                    await self._drop()
                    delay = self._offline_backoff.next_delay()
                    self._next_visit = asyncio.get_running_loop().time() + delay
        finally:
            forwarder.cancel()
            await self._drop()

    async def _next_item(self) -> Any:
        loop = asyncio.get_running_loop()
        if not self._queue.empty():
            return self._queue.get_nowait()
        deadline = self._next_visit
        if self.connected:
            deadline = min(deadline, self._last_work + self._config.idle_disconnect)
        timeout = max(0.0, deadline - loop.time())
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _tick(self, woken: bool) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if woken or now >= self._next_visit:
            await self._visit()
        elif self.connected and now - self._last_work >= self._config.idle_disconnect:
            _LOGGER.debug("%s: idle for %.1f s, disconnecting", self.lock.name, self._config.idle_disconnect)
            await self._drop()

    async def _visit(self) -> None:
        """Connect (if needed) so housekeeping runs: status, missed events, reconciliation.

        The next visit is one poll interval away whether the link had to be opened or was
        still open: left in the past, every turn of the loop would visit again at once."""
        self._next_visit = asyncio.get_running_loop().time() + self._config.poll_interval
        self._needs_status = self._needs_events = True
        try:
            await self._connected()
        except LockOffline:
            return
        if self._parked:
            parked, self._parked = self._parked, []
            for command in parked:
                self._queue.put_nowait(command)

    # ------------------------------------------------------------------ connection
    async def _connected(self) -> LockSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._session.is_connected:
            self._last_work = loop.time()
            return self._session
        self._session = None
        error: LockOperationError | None = None
        for attempt in range(self._config.connect_attempts):
            try:
                self._session = await self._connector.connect(self.lock, self.poke)
                break
            except LockOperationError as err:
                error = err
                if attempt + 1 < self._config.connect_attempts:
                    await asyncio.sleep(0.2 * 2 ** attempt)
        if self._session is None:
            delay = self._offline_backoff.next_delay()
            self._next_visit = loop.time() + delay
            if self.online is not False:
                _LOGGER.warning("%s: unreachable (%s); retrying in %.1f s", self.lock.name, error, delay)
                self.online = False
                self._hooks.status_changed()
            raise LockOffline(str(error) if error else "lock not reachable")
        self.connects += 1
        self._offline_backoff.reset()
        self._last_work = loop.time()
        if self._session.key_index == 1 and self.lock.pending_rotation_id:
            await self._confirm_key(self.lock.pending_rotation_id)
        self._next_visit = loop.time() + self._config.poll_interval
        if self.online is not True:
            _LOGGER.info("%s: reachable", self.lock.name)
            # After any time out of reach: the code table may have drifted from the cloud's.
            self._needs_reconcile = self._needs_status = self._needs_events = True
            self.online = True
            self._hooks.status_changed()
        return self._session

    async def _confirm_key(self, rotation_id: int) -> None:
        """The lock answered with the pending key: it switched, whatever the cloud heard before."""
        try:
            await self._api.key_confirmed(self.lock.lock_id, rotation_id)
            _LOGGER.info("%s: the lock holds the key of rotation %d; told the provider",
                         self.lock.name, rotation_id)
        except ProviderError as err:  # told again at the next connection
            _LOGGER.warning("%s: cannot confirm key rotation %d yet: %s", self.lock.name, rotation_id, err)

    async def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.disconnect()
            except Exception as err:  # the link is going anyway
                _LOGGER.debug("%s: disconnect: %s", self.lock.name, err)

    # ------------------------------------------------------------------ commands
    async def _run_command(self, command: Command) -> None:
        entry = self._journal.get(command.command_id)
        if entry is not None and entry.result is not None:
            _LOGGER.info("%s: command %s already executed; re-reporting its result",
                         self.lock.name, command.command_id)
            self._finish(command, entry.result, journal=False)
            return
        if command.expires_at and (expiry := parse_time(command.expires_at)) and expiry < self._now():
            _LOGGER.info("%s: command %s expired before it ran", self.lock.name, command.command_id)
            self._pending.discard(command.command_id)
            return
        interrupted = entry is not None and entry.phase == STARTED
        try:
            session = await self._connected()
        except LockOffline as err:
            if command.type in contract.DEFERRABLE_COMMANDS:
                _LOGGER.info("%s: %s waits for the lock to come back", self.lock.name, command.type)
                self._parked.append(command)
            else:
                self._finish(command, Result.failed(contract.DEVICE_OFFLINE, str(err)))
            return
        _LOGGER.info("%s: %s (command %s, attempt %d, request %s)", self.lock.name, command.type,
                     command.command_id, command.attempt, command.request_id or "-", extra=command.log_fields)
        self._journal.start(command)
        result = await self._execute_safely(session, command, verify_first=interrupted)
        self._finish(command, result)
        self._needs_status = self._needs_events = True
        if command.type in (contract.PUT_CODE, contract.DELETE_CODE):
            self._code_count = None  # our own change: the next count read is the new baseline

    def _finish(self, command: Command, result: Result, journal: bool = True) -> None:
        _LOGGER.info("%s: %s %s%s (command %s, request %s)", self.lock.name, command.type, result.status,
                     f" ({result.error_code})" if result.error_code else "", command.command_id,
                     command.request_id or "-", extra=command.log_fields)
        if journal:
            self._journal.finish(command, result)
        self._pending.discard(command.command_id)
        self._hooks.report(command, result)

    async def _execute_safely(self, session: LockSession, command: Command, verify_first: bool) -> Result:
        """Runs a command, never twice: a bolt command whose outcome is unknown is checked first."""
        target = contract.BOLT_COMMANDS.get(command.type)
        for attempt in range(2):
            if target and (verify_first or attempt > 0):
                status = await session.status()
                if status.lock_state == target:
                    return Result.ok()
            try:
                await self._execute(session, command)
                return Result.ok()
            except LinkLost as err:
                _LOGGER.warning("%s: link lost during %s: %s", self.lock.name, command.type, err)
                await self._drop()
                if attempt:
                    return Result.failed(err.error_code, err.message)
                try:
                    session = await self._connected()
                except LockOffline as unreachable:
                    return Result.failed(contract.DEVICE_OFFLINE, str(unreachable))
            except LockOperationError as err:
                return Result.failed(err.error_code, err.message)
        return Result.failed(contract.FIRMWARE_REFUSED, "unreachable")  # pragma: no cover - loop returns

    async def _execute(self, session: LockSession, command: Command) -> None:
        params = command.params
        if command.type == contract.UNLOCK:
            await session.unlock()
        elif command.type == contract.LOCK:
            await session.lock()
        elif command.type == contract.PUT_CODE:
            await session.put_code(desired_entry(params), replace=bool(params.get("replace", True)))
        elif command.type == contract.DELETE_CODE:
            slot = int(params["slot"])
            if params.get("code") is not None:
                # A code the cloud did not create: the slot may hold another one now, which stays.
                held = next((entry for entry in await session.list_codes() if entry.slot == slot), None)
                if held is None or held.code != params["code"]:
                    _LOGGER.info("%s: slot %d no longer holds the code to delete; left alone", self.lock.name, slot)
                    return
            try:
                await session.delete_code(slot)
            except SlotEmpty:
                pass  # already gone: the outcome the provider asked for
        elif command.type == contract.SET_TIME:
            when = parse_time(params.get("time")) or self._now()
            await session.set_time(when, params.get("timezone") or self.lock.timezone)
        elif command.type == contract.ROTATE_KEY:
            if not params.get("new_key"):
                raise LockOperationError(contract.FIRMWARE_REFUSED, "the rotation is no longer pending")
            await session.rotate_key(int(params["rotation_id"]), bytes.fromhex(params["new_key"]))
        else:
            raise LockOperationError(contract.FIRMWARE_REFUSED, f"unknown command type {command.type!r}")

    # ------------------------------------------------------------------ housekeeping
    async def _housekeeping(self) -> None:
        session = self._session
        if session is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if self._needs_status and not self._stopping:
                await self._read_status(session)
            if self._needs_events and not self._stopping:
                await self._read_events(session)
            if loop.time() - self._last_reconcile >= self._config.reconcile_interval:
                self._needs_reconcile = True
            if self._needs_reconcile and not self._stopping:
                await self.reconcile(session)
        except LinkLost as err:
            _LOGGER.warning("%s: link lost during housekeeping: %s", self.lock.name, err)
            await self._drop()
        except LockOperationError as err:
            _LOGGER.warning("%s: housekeeping: %s", self.lock.name, err)
        except ProviderError as err:
            _LOGGER.warning("%s: provider unavailable during housekeeping: %s", self.lock.name, err)

    async def _read_status(self, session: LockSession) -> None:
        status = await session.status()
        self.status, self._status_at = status, self._now()
        self._needs_status = False
        if status.code_count is not None:
            if self._code_count is not None and status.code_count != self._code_count:
                # Someone changed the table at the lock (its keypad, another app): read it now.
                _LOGGER.info("%s: the lock holds %d code(s), %d before; reconciling", self.lock.name,
                             status.code_count, self._code_count)
                self._needs_reconcile = True
            self._code_count = status.code_count
        drift = (status.device_time - self._now()).total_seconds()
        if abs(drift) > self._config.max_clock_drift or status.timezone != self.lock.timezone:
            if abs(drift) > self._config.max_clock_drift:
                _LOGGER.warning("%s: device clock off by %.0f s; setting it", self.lock.name, drift)
            else:
                _LOGGER.info("%s: device timezone %s, want %s; setting it", self.lock.name,
                             status.timezone, self.lock.timezone)
            # The provider sees the wrong time first (device.time_wrong), then the fix.
            try:
                await asyncio.wait_for(self._hooks.heartbeat_now(), self._config.http_timeout)
            except (TimeoutError, ProviderError) as err:
                _LOGGER.warning("%s: heartbeat before set_time failed: %s", self.lock.name, err)
            await session.set_time(self._now(), self.lock.timezone)
            self.status, self._status_at = await session.status(), self._now()

    async def _read_events(self, session: LockSession) -> None:
        while True:
            events = await session.read_events(self.read_seq)
            fresh = sorted((e for e in events if e.seq > self.read_seq), key=lambda e: e.seq)
            if not fresh:
                break
            for event in fresh:
                self._outbox.append(self._event_payload(event))
            self.read_seq = fresh[-1].seq
            self._outbox_ready.set()
        self._needs_events = False

    def _event_payload(self, event: LockEvent) -> dict[str, Any]:
        return {"lock_id": self.lock.lock_id, "lock_seq": event.seq, "type": event.type,
                "occurred_at": isoformat_z(event.occurred_at), "data": event.data}

    async def _forward_loop(self) -> None:
        """Sends read events to the provider in lock-sequence order; retries until accepted."""
        while True:
            await self._outbox_ready.wait()
            while self._outbox:
                batch = self._outbox[:EVENT_BATCH]
                try:
                    await self._api.post_events(batch)
                except ProviderError as err:  # refused outright: a bug on one side; keep the order
                    _LOGGER.error("%s: provider refused events %s-%s: %s", self.lock.name,
                                  batch[0]["lock_seq"], batch[-1]["lock_seq"], err)
                    await asyncio.sleep(self._config.retry_max)
                    continue
                del self._outbox[:len(batch)]
            self._outbox_ready.clear()

    async def _sync_offline(self, session: LockSession, table: dict[str, Any]) -> dict[str, Any]:
        """The offline-code secret the cloud issues under, and the revocations it queued
        (docs/ble-protocol.md 17): both reach a lock only when a bridge does, so every
        reconciliation (each reconnection among them) delivers what is outstanding."""
        offline = table.get("offline")
        if not offline:
            return {}
        generation = int(offline["generation"])
        if self._offline_generation != generation:
            try:
                await session.set_offline_secret(generation, bytes.fromhex(offline["secret"]))
            except Unsupported:
                return {"offline": {"unsupported": True}}
            except LinkLost:
                raise
            except LockOperationError as err:
                _LOGGER.warning("%s: cannot install the offline-code secret: %s", self.lock.name, err)
                return {}
            self._offline_generation = generation
            _LOGGER.info("%s: offline-code secret generation %d installed", self.lock.name, generation)
        revoked: list[str] = []
        for item in table.get("offline_revocations") or []:
            if int(item["generation"]) != generation:
                continue  # a code of an older secret no longer opens anyway
            try:
                free = await session.revoke_offline_code(item["kind"], int(item["start_hour"]),
                                                         int(item["end_hour"]), int(item["counter"]))
            except LinkLost:
                raise
            except LockOperationError as err:
                _LOGGER.warning("%s: cannot revoke offline code %s: %s", self.lock.name, item["access_code_id"], err)
                continue
            revoked.append(item["access_code_id"])
            _LOGGER.info("%s: offline code %s revoked (%d table entries left)", self.lock.name,
                         item["access_code_id"], free)
        return {"offline": {"generation": generation}, "revoked": revoked}

    async def reconcile(self, session: LockSession) -> dict[str, Any]:
        """Converges the lock's code table with the provider's.

        Policy (docs/bridge-agent.md): the cloud owns the codes it created.  Its codes missing
        or different on the lock are put; the slots it lists to remove (codes it was asked to
        delete) are cleared; every other code on the lock is left alone and reported as it is
        (`unmanaged`), so the cloud can list it, convert it or delete it."""
        table = await self._api.desired_codes(self.lock.lock_id)
        on_lock = {entry.slot: entry for entry in await session.list_codes()}
        present: list[str] = []
        removed: list[int] = []
        for item in table["access_codes"]:
            want = desired_entry(item)
            have = on_lock.pop(want.slot, None)
            if have is not None and not same_code(have, want) and not item.get("replace", True):
                # A new code of the cloud's met a code set at the lock: the lock's stays (reported
                # below), the cloud moves its own to another slot.
                _LOGGER.info("%s: slot %d holds a code the cloud did not create; not overwriting it",
                             self.lock.name, want.slot)
                on_lock[want.slot] = have
                continue
            if have is None or not same_code(have, want):
                try:
                    await session.put_code(want)
                except LinkLost:
                    raise
                except LockOperationError as err:
                    _LOGGER.warning("%s: cannot put code in slot %d: %s", self.lock.name, want.slot, err)
                    continue
                _LOGGER.info("%s: reconcile put slot %d (%s)", self.lock.name, want.slot,
                             "missing" if have is None else "changed")
            present.append(item["access_code_id"])
        for item in table["remove"]:
            slot = int(item["slot"])
            if slot not in on_lock or (item.get("code") is not None and on_lock[slot].code != item["code"]):
                continue  # gone, or the slot holds another code now (set at the lock): it stays
            try:
                await session.delete_code(slot)
            except SlotEmpty:
                pass
            except LinkLost:
                raise
            except LockOperationError as err:
                _LOGGER.warning("%s: cannot clear slot %d: %s", self.lock.name, slot, err)
                continue
            on_lock.pop(slot)
            removed.append(slot)
        if on_lock:
            _LOGGER.info("%s: keeping %d code(s) the cloud did not create, in slots %s", self.lock.name,
                         len(on_lock), sorted(on_lock))
        report: dict[str, Any] = {"present": present, "unknown_slots": sorted(on_lock), "removed_slots": removed,
                  "unmanaged": [found_entry(entry) for _, entry in sorted(on_lock.items())]}
        report.update(await self._sync_offline(session, table))
        await self._api.code_sync(self.lock.lock_id, report)
        self._code_count = len(present) + len(on_lock)
        self._needs_reconcile = False
        self._last_reconcile = asyncio.get_running_loop().time()
        return report
