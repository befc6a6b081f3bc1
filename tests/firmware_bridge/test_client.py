"""The real `LockClient` against the virtual lock, over Bumble's host stack on the virtual link.

No mocks: bleak + bleak-retry-connector -> our Bumble backend -> HCI/L2CAP/ATT
on a software controller -> the link -> the lock's controller and GATT server ->
`PeripheralConnection` -> `VirtualLock`.  Faults are injected in the lock's
`Faults` or on the link, as a flaky radio or a hostile one would.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bleak import BleakClient

from firmware_bridge.bumble_backend import BumbleClient
from firmware_bridge.bumble_backend.world import VirtualWorld, send_control
from firmware_bridge.lock_client import (
    BleBackend,
    LockAuthenticationError,
    LockClient,
    LockDisconnected,
    LockInvalidRequest,
    LockRefused,
    LockTimeout,
    LockUnreachable,
    Timeouts,
)
from firmware_bridge.protocol import const
from firmware_bridge.protocol.framing import encode_frame
from firmware_bridge.protocol.messages import (
    BatteryEvent,
    BoltFaultEvent,
    DoorEvent,
    IncorrectPinEvent,
    LockedEvent,
    LockEvent,
    TamperEvent,
    UnlockedEvent,
)
from firmware_bridge.simulator import peripheral as peripheral_module
from firmware_bridge.simulator.peripheral import VirtualLockPeripheral
from tests.firmware_bridge.asyncrun import run_bounded

KEY = "000102030405060708090a0b0c0d0e0f"
OTHER_KEY = "f0e0d0c0b0a090807060504030201000"
# Bounded timeouts with room for a loaded CI machine (the virtual link answers in
# milliseconds); the fault tests that need a timeout to fire set short ones.
FAST = Timeouts(
    connect=5.0,
    connect_attempts=1,
    handshake=5.0,
    read=5.0,
    bolt=5.0,
    code_write=5.0,
    disconnect=2.0,
)


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    run_bounded(scenario, timeout)


class Harness:
    def __init__(
        self, world: VirtualWorld, peripheral: VirtualLockPeripheral, client: LockClient
    ) -> None:
        self.world = world
        self.peripheral = peripheral
        self.lock = peripheral.lock
        self.client = client
        self.events: list[LockEvent] = []
        self.disconnects = 0

    async def next_event(self, kind: type[LockEvent], timeout: float = 2.0) -> LockEvent:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if isinstance(event, kind):
                        self.events.remove(event)
                        return event
                await asyncio.sleep(0.005)


@asynccontextmanager
async def harness(
    *, mtu: int | None = None, connect: bool = True, **lock_kwargs: Any
) -> AsyncIterator[Harness]:
    async with VirtualWorld() as world:
        peripheral = await world.add_lock(device_key=KEY, **lock_kwargs)
        backend = BleBackend.bumble(world.adapter, **({"mtu": mtu} if mtu else {}))
        h: Harness

        def on_disconnect(_client: LockClient) -> None:
            h.disconnects += 1

        client = LockClient(
            world.ble_device(peripheral.address),
            KEY,
            backend=backend,
            on_event=lambda event: h.events.append(event),
            on_disconnect=on_disconnect,
            timeouts=FAST,
        )
        h = Harness(world, peripheral, client)
        if connect:
            await client.connect()
        try:
            yield h
        finally:
            await client.disconnect()


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
def test_connect_reads_info_and_establishes_a_session() -> None:
    async def scenario() -> None:
        async with harness() as h:
            assert h.client.has_session
            assert (
                h.client.info is not None
                and h.client.info.protocol_version == const.PROTOCOL_VERSION
            )
            assert h.client.mtu == 247
            assert h.client.last_connect is not None and h.client.last_connect.handshake > 0
            status = await h.client.status()
            assert status.bolt is const.BoltState.LOCKED
            assert status.door is const.DoorState.CLOSED
            assert status.code_capacity == 250 and status.code_count == 0
            await h.client.disconnect()
            assert not h.client.is_connected
            await h.client.disconnect()  # idempotent

    run(scenario)


def test_lock_unlock_and_their_events() -> None:
    async def scenario() -> None:
        async with harness() as h:
            assert await h.client.unlock() is const.BoltState.UNLOCKED
            event = await h.next_event(UnlockedEvent)
            assert event.source is const.Source.BLE
            assert h.lock.bolt is const.BoltState.UNLOCKED
            assert await h.client.lock() is const.BoltState.LOCKED
            assert (await h.next_event(LockedEvent)).source is const.Source.BLE
            assert h.client.last_event_seq == h.lock.head_seq

    run(scenario)


def test_set_time_with_timezone() -> None:
    async def scenario() -> None:
        async with harness() as h:
            when = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
            await h.client.set_time(when, "Europe/Paris")
            status = await h.client.status()
            assert status.timezone == "Europe/Paris"
            assert status.utc_offset_minutes == 120
            assert abs(status.device_time - int(when.timestamp())) <= 2
            with pytest.raises(ValueError):
                await h.client.set_time(datetime(2026, 7, 1), "UTC")

    run(scenario)


def test_codes_put_list_delete_with_paging_at_the_smallest_mtu() -> None:
    async def scenario() -> None:
        async with harness(mtu=23) as h:
            assert h.client.mtu == 23
            starts = datetime(2026, 1, 1, tzinfo=UTC)
            ends = starts + timedelta(days=7)
            assert await h.client.put_code(3, "482913", "Front door", starts, ends) == 3
            assert await h.client.put_code(None, "111111", "Any slot") == 1
            for slot in range(10, 22):
                await h.client.put_code(slot, f"{slot:04d}99", f"Guest {slot}")
            codes = await h.client.list_codes()  # 14 codes: two pages of 10 + 4
            assert [c.slot for c in codes] == [1, 3, *range(10, 22)]
            front = next(c for c in codes if c.slot == 3)
            assert (front.pin, front.name) == ("482913", "Front door")
            assert (front.starts_at, front.ends_at) == (
                int(starts.timestamp()),
                int(ends.timestamp()),
            )
            await h.client.delete_code(3)
            await h.client.delete_code(3)  # already empty: counts as deleted
            assert 3 not in {c.slot for c in await h.client.list_codes()}

    run(scenario)


def test_code_refusals_are_typed() -> None:
    async def scenario() -> None:
        async with harness(capacity=2) as h:
            await h.client.put_code(1, "1234", "One")
            assert await h.client.put_code(1, "1234", "One") == 1  # identical: idempotent
            with pytest.raises(LockRefused) as occupied:
                await h.client.put_code(1, "5678", "Other")
            assert occupied.value.error_code is const.ErrorCode.SLOT_OCCUPIED
            with pytest.raises(LockRefused) as conflict:
                await h.client.put_code(2, "1234", "Same PIN")
            assert conflict.value.error_code is const.ErrorCode.PIN_CONFLICT
            with pytest.raises(LockRefused) as invalid:
                await h.client.put_code(3, "4321", "No slot")
            assert invalid.value.error_code is const.ErrorCode.INVALID_SLOT
            with pytest.raises(LockInvalidRequest) as bad_pin:
                await h.client.put_code(2, "12", "Short")
            assert bad_pin.value.error_code is const.ErrorCode.BAD_PIN
            assert h.client.has_session  # a refusal leaves the session up

    run(scenario)


def test_read_events_pages_through_the_log() -> None:
    async def scenario() -> None:
        async with harness() as h:
            for _ in range(20):
                h.lock.manual_turn()
            log = await h.client.read_events(0)
            assert [e.seq for e in log.events] == list(range(1, 21))
            assert (log.head_seq, log.oldest_seq, log.lost) == (20, 1, 0)
            assert [e.seq for e in (await h.client.read_events(18)).events] == [19, 20]

    run(scenario)


def test_one_command_in_flight_at_a_time() -> None:
    async def scenario() -> None:
        async with harness() as h:
            results = await asyncio.gather(
                *(h.client.status() for _ in range(5)), h.client.unlock()
            )
            ids = [r.request_id for r in results[:5]]
            assert len(set(ids)) == 5
            assert results[5] is const.BoltState.UNLOCKED

    run(scenario)


# ---------------------------------------------------------------------------
# Unsolicited events
# ---------------------------------------------------------------------------
def test_every_unsolicited_event_reaches_the_callback() -> None:
    async def scenario() -> None:
        async with harness(auto_lock_seconds=0.1) as h:
            await h.client.put_code(7, "482913", "Keypad")
            h.lock.enter_pin("482913")
            unlocked = await h.next_event(UnlockedEvent)
            assert (unlocked.source, unlocked.slot) == (const.Source.KEYPAD, 7)
            auto = await h.next_event(LockedEvent)  # the peripheral's tick runs auto-lock
            assert auto.source is const.Source.AUTO_LOCK
            h.lock.enter_pin("000000")
            assert (await h.next_event(IncorrectPinEvent)).digits == "000000"
            h.lock.manual_turn()
            assert (await h.next_event(UnlockedEvent)).source is const.Source.MANUAL
            h.lock.faults.jam_next = True
            h.lock.press_lock_button()
            fault = await h.next_event(BoltFaultEvent)
            assert (fault.fault, fault.action) == (const.BoltFault.JAMMED, const.BoltAction.LOCK)
            h.lock.set_battery(10)
            battery = await h.next_event(BatteryEvent)
            assert (battery.level_percent, battery.low) == (10, True)
            h.lock.set_door(const.DoorState.OPEN)
            assert (await h.next_event(DoorEvent)).door is const.DoorState.OPEN
            h.lock.tamper(const.TamperKind.CASE_OPENED)
            assert (await h.next_event(TamperEvent)).kind is const.TamperKind.CASE_OPENED
            assert h.client.last_event_seq == h.lock.head_seq

    run(scenario)


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------
def test_jam_and_obstruction_are_refusals() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.lock.faults.jam_next = True
            with pytest.raises(LockRefused) as jam:
                await h.client.unlock()
            assert jam.value.error_code is const.ErrorCode.JAMMED
            assert (await h.client.status()).bolt is const.BoltState.JAMMED
            assert (await h.next_event(BoltFaultEvent)).fault is const.BoltFault.JAMMED
            h.lock.faults.obstruct_next = True
            with pytest.raises(LockRefused) as obstructed:
                await h.client.lock()
            assert obstructed.value.error_code is const.ErrorCode.OBSTRUCTED
            fault = await h.next_event(BoltFaultEvent)
            assert (fault.fault, fault.action, fault.source) == (
                const.BoltFault.OBSTRUCTED,
                const.BoltAction.LOCK,
                const.Source.BLE,
            )

    run(scenario)


def test_storage_full_and_low_battery() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.lock.faults.storage_full = True
            with pytest.raises(LockRefused) as full:
                await h.client.put_code(None, "2468", "Nope")
            assert full.value.error_code is const.ErrorCode.STORAGE_FULL
            h.lock.set_battery(2)
            assert (await h.next_event(BatteryEvent)).low
            with pytest.raises(LockRefused) as low:
                await h.client.unlock()
            assert low.value.error_code is const.ErrorCode.LOW_BATTERY
            assert (await h.client.status()).battery_percent == 2

    run(scenario)


def test_clock_drift_shows_in_status_and_set_time_fixes_it() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.lock.skew_clock(-3600)
            now = datetime.now(UTC)
            drift = (await h.client.status()).device_time - int(now.timestamp())
            assert -3610 < drift < -3590
            await h.client.set_time(datetime.now(UTC), "UTC")
            assert (
                abs((await h.client.status()).device_time - int(datetime.now(UTC).timestamp())) <= 2
            )

    run(scenario)


def test_clock_drift_in_ppm_accumulates_on_the_locks_clock() -> None:
    now = [1_800_000_000.0]

    async def scenario() -> None:
        async with harness(time_source=lambda: now[0]) as h:
            h.lock.set_clock_drift(500)  # the RTC runs 500 ppm fast
            now[0] += 86_400  # one day later
            status = await h.client.status()
            assert status.device_time - int(now[0]) == 43  # 86400 s * 500e-6 = 43.2 s ahead

    run(scenario)


def test_disconnect_mid_command() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.lock.faults.disconnect_mid_command = True
            with pytest.raises(LockDisconnected):
                await h.client.unlock()  # not retried: it could act twice
            assert h.lock.bolt is const.BoltState.LOCKED  # the lock never acted
            assert h.disconnects == 1
            h.lock.faults.disconnect_mid_command = True
            status = await h.client.status()  # a read is retried on a new connection
            assert status.bolt is const.BoltState.LOCKED
            assert h.client.has_session

    run(scenario)


def test_disconnect_mid_response() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.lock.faults.disconnect_mid_response = True
            with pytest.raises(LockDisconnected):
                await h.client.unlock()
            assert h.lock.bolt is const.BoltState.UNLOCKED  # it acted, the answer was cut
            h.lock.faults.disconnect_mid_response = True
            assert (await h.client.status()).bolt is const.BoltState.UNLOCKED
            assert await h.client.put_code(4, "97531", "Retried") == 4  # explicit slot: retried
            h.lock.faults.disconnect_mid_response = True
            assert await h.client.put_code(5, "86420", "Retried") == 5
            assert h.lock.codes[5].pin == "86420"

    run(scenario)


def test_slow_response_times_out_and_the_next_command_works() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.client.timeouts = dataclasses.replace(FAST, bolt=0.3)
            h.lock.faults.response_delay = 0.6  # beyond the bolt timeout
            with pytest.raises(LockTimeout):
                await h.client.unlock()
            h.lock.faults.response_delay = 0.0
            await asyncio.sleep(0.4)  # the late answer arrives and is ignored
            assert (await h.client.status()).bolt is const.BoltState.UNLOCKED

    run(scenario)


def test_dropped_notification_is_recovered_from_the_event_log() -> None:
    async def scenario() -> None:
        async with harness() as h:
            seen = h.client.last_event_seq
            h.lock.faults.drop_notifications = 1
            h.lock.enter_pin("999999")  # its notification is lost on the air
            h.lock.manual_turn()
            turned = await h.next_event(UnlockedEvent)
            assert not any(isinstance(e, IncorrectPinEvent) for e in h.events)
            log = await h.client.read_events(seen)
            assert [type(e) for e in log.events] == [IncorrectPinEvent, UnlockedEvent]
            assert log.events[-1] == turned

    run(scenario)


def test_dropped_response_notification_is_a_timeout() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.client.timeouts = dataclasses.replace(FAST, read=1.0, bolt=0.4)
            h.lock.faults.drop_notifications = 2  # the UnlockedEvent, then the response
            with pytest.raises(LockTimeout):
                await h.client.unlock()  # not retried
            assert h.lock.bolt is const.BoltState.UNLOCKED
            h.lock.faults.drop_notifications = 1
            status = await h.client.status()  # a read is retried after the timeout
            assert status.bolt is const.BoltState.UNLOCKED
            assert h.lock.faults.drop_notifications == 0

    run(scenario)


def test_a_lock_that_does_not_advertise_is_unreachable_then_comes_back() -> None:
    async def scenario() -> None:
        async with harness(connect=False) as h:
            h.client.timeouts = dataclasses.replace(FAST, connect=0.3)
            h.peripheral.refuse_advertising(0.8)
            await asyncio.sleep(0.05)
            with pytest.raises(LockUnreachable):
                await h.client.connect()
            await asyncio.sleep(0.8)
            h.client.timeouts = FAST
            await h.client.connect()
            assert h.client.has_session

    run(scenario)


def test_a_lock_that_lost_its_session_is_handshaken_again_without_resending_a_bolt_command() -> None:
    """Its plaintext NOT_AUTHENTICATED alert is ignored (anyone can send one): the
    unlock times out unsent-again, and the next (retry-safe) read starts a new session."""

    async def scenario() -> None:
        async with harness() as h:
            assert h.client._conn is not None
            before = h.client._conn.session_id
            h.client.timeouts = dataclasses.replace(FAST, bolt=0.4, read=0.4)
            h.peripheral.forget_sessions()
            with pytest.raises(LockTimeout):
                await h.client.unlock()
            assert h.lock.events == ()  # the lock could not decrypt it, and it was not resent
            assert (await h.client.status()).bolt is const.BoltState.LOCKED
            assert h.client._conn.session_id not in (None, before)
            assert h.client.has_session

    run(scenario)


def test_the_lock_drops_a_central_that_never_authenticates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(const, "LOCK_HANDSHAKE_IDLE_TIMEOUT", 0.2)

    async def scenario() -> None:
        async with harness(connect=False) as h:
            dropped = asyncio.Event()
            silent = BleakClient(
                h.world.ble_device(h.peripheral.address),
                lambda _c: dropped.set(),
                backend=BumbleClient,
                timeout=1.0,
            )
            await silent.connect()
            await asyncio.wait_for(dropped.wait(), 2.0)
            await h.client.connect()  # and the lock is free for a real bridge
            assert h.client.has_session

    run(scenario)


def test_link_drop_while_waiting_is_a_clear_error_not_a_hang() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.client.timeouts = dataclasses.replace(FAST, bolt=20.0)
            h.lock.faults.response_delay = 30.0
            command = asyncio.ensure_future(h.client.unlock())
            await asyncio.sleep(0.1)
            await h.peripheral.drop_connections()
            with pytest.raises(LockDisconnected):  # the drop ends the wait, not the 20 s timeout
                await asyncio.wait_for(command, 10)

    run(scenario)


# ---------------------------------------------------------------------------
# Security on the air
# ---------------------------------------------------------------------------
def test_wrong_key_fails_the_handshake() -> None:
    async def scenario() -> None:
        async with harness(connect=False) as h:
            intruder = h.world.client(h.peripheral.address, device_key=OTHER_KEY, timeouts=FAST)
            with pytest.raises(LockAuthenticationError):
                await intruder.connect()
            assert not intruder.is_connected
            await h.client.connect()  # the right key still works afterwards
            assert h.client.has_session

    run(scenario)


def _capture_writes(peripheral: VirtualLockPeripheral) -> list[bytes]:
    captured: list[bytes] = []
    original = peripheral.service.request.value._write

    def spy(connection: Any, value: bytes) -> None:
        captured.append(bytes(value))
        original(connection, value)

    peripheral.service.request.value._write = spy
    return captured


def test_replayed_and_tampered_requests_are_refused_on_the_link() -> None:
    async def scenario() -> None:
        async with harness() as h:
            captured = _capture_writes(h.peripheral)
            await h.client.unlock()
            unlock_frame = captured[-1]
            await h.client.lock()
            bleak = h.client._bleak
            assert bleak is not None
            # Replay: the captured UNLOCK, written again on the real ATT link.
            await bleak.write_gatt_char(const.REQUEST_CHAR_UUID, unlock_frame, response=True)
            # Tamper: one ciphertext bit flipped, framing CRC recomputed so only the AEAD can tell.
            body = bytearray(unlock_frame[const.FRAME_HEADER_SIZE : -const.FRAME_TRAILER_SIZE])
            body[-1] ^= 0x01
            await bleak.write_gatt_char(
                const.REQUEST_CHAR_UUID, encode_frame(bytes(body)), response=True
            )
            # Noise: bytes that are no frame at all, then a truncated copy of a real one.
            await bleak.write_gatt_char(
                const.REQUEST_CHAR_UUID, b"\x00\xa5\xffnoise", response=True
            )
            await bleak.write_gatt_char(const.REQUEST_CHAR_UUID, unlock_frame[:9], response=True)
            await asyncio.sleep(0.05)
            assert h.peripheral.rejected_frames == 2
            assert h.lock.bolt is const.BoltState.LOCKED  # neither acted
            assert (await h.client.status()).bolt is const.BoltState.LOCKED  # session still fine
            # Cross-session: the old UNLOCK replayed into a new session (after a reconnect).
            await h.client.disconnect()
            await h.client.connect()
            bleak = h.client._bleak
            assert bleak is not None
            await bleak.write_gatt_char(const.REQUEST_CHAR_UUID, unlock_frame, response=True)
            await asyncio.sleep(0.05)
            assert h.peripheral.rejected_frames == 3
            assert h.lock.bolt is const.BoltState.LOCKED
            assert (await h.client.status()).bolt is const.BoltState.LOCKED

    run(scenario)


def test_replayed_and_tampered_notifications_are_refused_by_the_client() -> None:
    async def scenario() -> None:
        async with harness() as h:
            sent: list[bytes] = []
            original = h.peripheral._notify

            async def spy(session: Any, chunks: list[bytes]) -> None:
                sent.extend(chunks)
                await original(session, chunks)

            h.peripheral._notify = spy  # type: ignore[method-assign]
            h.lock.manual_turn()
            await h.next_event(UnlockedEvent)
            old_event = sent[-1]
            body = bytearray(old_event[const.FRAME_HEADER_SIZE : -const.FRAME_TRAILER_SIZE])
            body[-1] ^= 0x80
            session = next(iter(h.peripheral._sessions.values()))
            await original(session, [old_event])  # replayed
            await original(session, [encode_frame(bytes(body))])  # tampered
            await original(session, [b"\xa5garbage\x00\x01"])  # noise
            await asyncio.sleep(0.05)
            assert h.client.rejected_frames == 2
            assert h.events == []  # nothing delivered twice or forged
            assert (await h.client.status()).bolt is const.BoltState.UNLOCKED

    run(scenario)


# ---------------------------------------------------------------------------
# Reconnection and missed events
# ---------------------------------------------------------------------------
def test_reconnects_after_the_lock_drops_the_link() -> None:
    async def scenario() -> None:
        async with harness() as h:
            await h.peripheral.drop_connections()
            await asyncio.sleep(0.05)
            assert h.disconnects == 1 and not h.client.is_connected
            assert await h.client.unlock() is const.BoltState.UNLOCKED  # reconnects by itself
            assert h.client.has_session

    run(scenario)


def test_no_auto_reconnect_means_a_clear_error() -> None:
    async def scenario() -> None:
        async with harness() as h:
            h.client.auto_reconnect = False
            await h.client.disconnect()
            with pytest.raises(LockDisconnected):
                await h.client.status()

    run(scenario)


def test_missed_events_are_recovered_after_a_reconnect() -> None:
    async def scenario() -> None:
        async with harness() as h:
            await h.client.put_code(2, "13579", "Bob")
            h.lock.manual_turn()
            await h.next_event(UnlockedEvent)
            seen = h.client.last_event_seq
            await h.client.disconnect()
            h.lock.manual_turn()  # while nobody listens
            h.lock.enter_pin("13579")
            h.lock.set_door(const.DoorState.OPEN)
            await h.client.connect()
            log = await h.client.read_events(seen)
            assert [type(e) for e in log.events] == [LockedEvent, UnlockedEvent, DoorEvent]
            assert [e.seq for e in log.events] == [seen + 1, seen + 2, seen + 3]
            assert log.events[1].slot == 2 and log.lost == 0
            assert h.client.last_event_seq == h.lock.head_seq

    run(scenario)


def test_overwritten_events_are_counted_as_lost() -> None:
    async def scenario() -> None:
        async with harness(event_log_size=5) as h:
            await h.client.disconnect()
            for _ in range(8):
                h.lock.manual_turn()
            log = await h.client.read_events(0)  # reconnects by itself
            assert [e.seq for e in log.events] == [4, 5, 6, 7, 8]
            assert log.lost == 3

    run(scenario)


# ---------------------------------------------------------------------------
# The control hook (used by the sandbox's keypad command)
# ---------------------------------------------------------------------------
def test_control_hook_types_on_the_keypad() -> None:
    async def scenario() -> None:
        async with harness() as h:
            await h.client.put_code(1, "482913", "Alice")
            host, port = await h.world.serve_control()
            answer = await send_control(
                host, port, {"op": "enter_pin", "address": h.peripheral.address, "pin": "482913"}
            )
            assert answer == {
                "ok": True,
                "event": "UnlockedEvent",
                "bolt": "UNLOCKED",
                "door": "CLOSED",
                "battery_percent": 100,
            }
            assert (await h.next_event(UnlockedEvent)).slot == 1
            listed = await send_control(host, port, {"op": "list"})
            assert listed["locks"][0]["address"] == h.peripheral.address
            bad = await send_control(
                host,
                port,
                {"op": "fault", "address": h.peripheral.address, "name": "nope", "value": 1},
            )
            assert bad["ok"] is False
            jam = await send_control(
                host,
                port,
                {"op": "fault", "address": h.peripheral.address, "name": "jam_next", "value": True},
            )
            assert jam["ok"] and h.lock.faults.jam_next
            unknown = await send_control(
                host, port, {"op": "enter_pin", "address": "00:00:00:00:00:00", "pin": "1"}
            )
            assert unknown["ok"] is False

    run(scenario)


def test_many_locks_in_one_world() -> None:
    async def scenario() -> None:
        async with VirtualWorld() as world:
            peripherals = [await world.add_lock(device_key=KEY) for _ in range(10)]
            async with world.scanner(service_uuids=[const.SERVICE_UUID]) as scanner:
                await asyncio.sleep(0.2)
            assert {d.address for d in scanner.discovered_devices} == set(world.addresses)
            clients = [world.client(p.address, timeouts=FAST) for p in peripherals]
            await asyncio.gather(*(c.connect() for c in clients))
            bolts = await asyncio.gather(*(c.unlock() for c in clients))
            assert set(bolts) == {const.BoltState.UNLOCKED}
            assert {world.lock(p.address).bolt for p in peripherals} == {const.BoltState.UNLOCKED}
            await asyncio.gather(*(c.disconnect() for c in clients))

    run(scenario)


def _advertising_interval_ms(peripheral: VirtualLockPeripheral) -> float | None:
    advertising_set = peripheral.device.legacy_advertising_set
    if advertising_set is None:
        return None
    return float(advertising_set.advertising_parameters.primary_advertising_interval_min)


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def test_an_idle_lock_slows_its_advertising_and_still_accepts_a_central(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast advertising only for a while after a central leaves, then the slow interval
    (an idle lock must not cost 50 advertisements a second); a central still connects,
    and its leaving starts the fast period again."""
    # Long enough that a loaded machine still sees the fast period before it ends.
    monkeypatch.setattr(peripheral_module, "FAST_ADVERTISING_SECONDS", 1.0)

    async def scenario() -> None:
        async with harness(connect=False) as h:
            await _until(lambda: _advertising_interval_ms(h.peripheral) == peripheral_module.DEFAULT_ADVERTISING_INTERVAL_MS)
            await _until(lambda: _advertising_interval_ms(h.peripheral) == peripheral_module.SLOW_ADVERTISING_INTERVAL_MS)
            await h.client.connect()
            assert h.client.has_session
            await _until(lambda: _advertising_interval_ms(h.peripheral) is None)  # connected: silent
            await h.client.disconnect()
            await _until(lambda: _advertising_interval_ms(h.peripheral) == peripheral_module.DEFAULT_ADVERTISING_INTERVAL_MS)

    run(scenario)
