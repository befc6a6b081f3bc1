"""The virtual lock's state machine: commands, keypad, timers, log, faults, persistence."""

from __future__ import annotations

import json

import pytest

from firmware_bridge.protocol import (
    ANY_SLOT,
    NEED_DATA,
    BatteryEvent,
    BoltAction,
    BoltFault,
    BoltFaultEvent,
    BoltState,
    CentralConnection,
    CodeEntry,
    DeleteCodeRequest,
    DeleteCodeResponse,
    DeviceInfo,
    DoorEvent,
    DoorState,
    ErrorCode,
    ErrorResponse,
    IncorrectPinEvent,
    ListCodesRequest,
    ListCodesResponse,
    LockedEvent,
    LockEvent,
    LockRequest,
    LockResponse,
    PeripheralConnection,
    PutCodeRequest,
    PutCodeResponse,
    ReadEventsRequest,
    ReadEventsResponse,
    Request,
    SetTimeRequest,
    SetTimeResponse,
    Source,
    StatusRequest,
    StatusResponse,
    TamperEvent,
    TamperKind,
    UnlockedEvent,
    UnlockRequest,
    UnlockResponse,
)
from firmware_bridge.simulator import VirtualLock
from firmware_bridge.simulator.lock import LOW_BATTERY_PERCENT

T0 = 1_700_000_000.0


class FakeTime:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def events() -> list[LockEvent]:
    return []


@pytest.fixture
def lock(clock: FakeTime, events: list[LockEvent]) -> VirtualLock:
    vl = VirtualLock(time_source=clock, battery_drain_per_move=0.0, battery_drain_per_request=0.0)
    vl.add_listener(events.append)
    return vl


def kinds(events: list[LockEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


# ----------------------------------------------------------------- commands
def test_status_of_a_new_lock(lock: VirtualLock) -> None:
    status = lock.handle(StatusRequest(1))
    assert status == StatusResponse(
        1, BoltState.LOCKED, DoorState.CLOSED, 100, 0, int(T0), "UTC", 0, 0, 250, 0
    )


def test_info_characteristic_value(lock: VirtualLock) -> None:
    info = DeviceInfo.from_bytes(bytes(lock.info))
    assert info.protocol_version == 2 and info.capabilities == 0x17F  # offline codes, weekly schedules, settings


# (request, expected response, expected bolt, expected event types): one row per BLE command.
COMMANDS = [
    (
        UnlockRequest(1),
        UnlockResponse(1, BoltState.UNLOCKED),
        BoltState.UNLOCKED,
        ["UnlockedEvent"],
    ),
    (LockRequest(2), LockResponse(2, BoltState.LOCKED), BoltState.LOCKED, ["LockedEvent"]),
    (
        SetTimeRequest(3, 1_800_000_000, "Europe/Paris", 60),
        SetTimeResponse(3),
        BoltState.LOCKED,
        [],
    ),
    (PutCodeRequest(4, 1, "1234", "a"), PutCodeResponse(4, 1), BoltState.LOCKED, []),
    (DeleteCodeRequest(5, 1), ErrorResponse(5, 6, ErrorCode.SLOT_EMPTY), BoltState.LOCKED, []),
]


@pytest.mark.parametrize(("request_", "response", "bolt", "emitted"), COMMANDS)
def test_commands(
    lock: VirtualLock,
    events: list[LockEvent],
    request_: Request,
    response: object,
    bolt: BoltState,
    emitted: list[str],
) -> None:
    assert lock.handle(request_) == response
    assert lock.bolt is bolt
    assert kinds(events) == emitted
    assert all(getattr(e, "source", Source.BLE) is Source.BLE for e in events)


def test_set_time_moves_the_lock_clock_and_timezone(lock: VirtualLock, clock: FakeTime) -> None:
    lock.handle(SetTimeRequest(1, 1_800_000_000, "America/New_York", -300))
    clock.advance(10)
    status = lock.handle(StatusRequest(2))
    assert isinstance(status, StatusResponse)
    assert (status.device_time, status.timezone, status.utc_offset_minutes) == (
        1_800_000_010,
        "America/New_York",
        -300,
    )


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (SetTimeRequest(1, 1_000_000_000, "UTC"), ErrorCode.INVALID_TIME),
        (SetTimeRequest(1, 1_800_000_000, "Mars/Olympus_Mons"), ErrorCode.INVALID_TIMEZONE),
    ],
)
def test_set_time_refusals(lock: VirtualLock, request_: Request, code: ErrorCode) -> None:
    assert lock.handle(request_) == ErrorResponse(1, 4, code)


class _Strange(Request):
    pass


def test_unknown_request_type_is_refused(lock: VirtualLock) -> None:
    answer = lock.handle(_Strange(3))
    assert isinstance(answer, ErrorResponse) and answer.error is ErrorCode.UNKNOWN_OPCODE


# ----------------------------------------------------------------- codes
# (existing codes, request, expected answer): the refusal table of PUT_CODE / DELETE_CODE.
CODE_CASES = [
    ([], PutCodeRequest(1, 0, "1234", "a"), ErrorResponse(1, 5, ErrorCode.INVALID_SLOT)),
    ([], PutCodeRequest(1, 251, "1234", "a"), ErrorResponse(1, 5, ErrorCode.INVALID_SLOT)),
    ([], PutCodeRequest(1, ANY_SLOT, "1234", "a"), PutCodeResponse(1, 1)),
    ([(1, "1111")], PutCodeRequest(1, ANY_SLOT, "1234", "a"), PutCodeResponse(1, 2)),
    (
        [(1, "1111")],
        PutCodeRequest(1, 1, "2222", "a"),
        ErrorResponse(1, 5, ErrorCode.SLOT_OCCUPIED),
    ),
    ([(1, "1111")], PutCodeRequest(1, 1, "2222", "a", replace=True), PutCodeResponse(1, 1)),
    ([(1, "1111")], PutCodeRequest(1, 1, "1111", "name-1"), PutCodeResponse(1, 1)),  # idempotent
    ([(1, "1111")], PutCodeRequest(1, 2, "1111", "a"), ErrorResponse(1, 5, ErrorCode.PIN_CONFLICT)),
    ([(1, "1111")], DeleteCodeRequest(1, 1), DeleteCodeResponse(1, 1)),
    ([(1, "1111")], DeleteCodeRequest(1, 2), ErrorResponse(1, 6, ErrorCode.SLOT_EMPTY)),
    ([], DeleteCodeRequest(1, 0), ErrorResponse(1, 6, ErrorCode.INVALID_SLOT)),
    ([], DeleteCodeRequest(1, 300), ErrorResponse(1, 6, ErrorCode.INVALID_SLOT)),
]


@pytest.mark.parametrize(("existing", "request_", "answer"), CODE_CASES)
def test_code_rules(
    lock: VirtualLock, existing: list[tuple[int, str]], request_: Request, answer: object
) -> None:
    for slot, pin in existing:
        assert lock.handle(PutCodeRequest(9, slot, pin, f"name-{slot}")).ok
    assert lock.handle(request_) == answer


def test_storage_full_when_capacity_is_reached(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, capacity=2)
    assert lock.handle(PutCodeRequest(1, ANY_SLOT, "1111", "a")) == PutCodeResponse(1, 1)
    assert lock.handle(PutCodeRequest(2, ANY_SLOT, "2222", "b")) == PutCodeResponse(2, 2)
    assert lock.handle(PutCodeRequest(3, ANY_SLOT, "3333", "c")) == ErrorResponse(
        3, 5, ErrorCode.STORAGE_FULL
    )
    assert lock.handle(PutCodeRequest(4, 3, "3333", "c")) == ErrorResponse(
        4, 5, ErrorCode.INVALID_SLOT
    )


def test_list_codes_pages(lock: VirtualLock) -> None:
    for slot in range(1, 26):
        lock.handle(PutCodeRequest(slot, slot * 2, f"{1000 + slot}", f"user {slot}"))
    seen: list[CodeEntry] = []
    start: int | None = 0
    pages = 0
    while start is not None:
        page = lock.handle(ListCodesRequest(1, start, 10))
        assert isinstance(page, ListCodesResponse)
        seen += page.codes
        start = page.next_slot
        pages += 1
    assert pages == 3
    assert [c.slot for c in seen] == [s * 2 for s in range(1, 26)]
    assert seen[0] == CodeEntry(2, "1001", "user 1")
    empty = lock.handle(ListCodesRequest(1, 51, 10))
    assert empty == ListCodesResponse(1, (), None)


def test_status_counts_codes(lock: VirtualLock) -> None:
    lock.handle(PutCodeRequest(1, 5, "1234", "a"))
    status = lock.handle(StatusRequest(2))
    assert isinstance(status, StatusResponse) and status.code_count == 1


# ----------------------------------------------------------------- keypad and schedules
def test_keypad_unlocks_with_a_valid_code(lock: VirtualLock, events: list[LockEvent]) -> None:
    lock.handle(PutCodeRequest(1, 7, "482913", "Alice"))
    event = lock.enter_pin("482913")
    assert event == UnlockedEvent(1, int(T0), Source.KEYPAD, 7)
    assert lock.bolt is BoltState.UNLOCKED
    assert events == [event]
    assert lock.press_lock_button() == LockedEvent(2, int(T0), Source.KEYPAD, None)


def test_keypad_wrong_pin(lock: VirtualLock) -> None:
    event = lock.enter_pin("000000")
    assert event == IncorrectPinEvent(1, int(T0), "000000")
    assert lock.bolt is BoltState.LOCKED


def test_five_wrong_pins_raise_a_tamper_event(lock: VirtualLock, events: list[LockEvent]) -> None:
    for _ in range(5):
        lock.enter_pin("9999")
    assert kinds(events) == ["IncorrectPinEvent"] * 5 + ["TamperEvent"]
    assert isinstance(events[-1], TamperEvent) and events[-1].kind is TamperKind.KEYPAD_LOCKOUT


# (window relative to now, seconds to advance, opens?): evaluated on the lock's own clock.
WINDOWS = [
    ((-10, 10), 0, True),
    ((10, 20), 0, False),
    ((10, 20), 10, True),
    ((10, 20), 20, False),  # ends_at is exclusive
    ((-20, -10), 0, False),
]


@pytest.mark.parametrize(("window", "advance", "opens"), WINDOWS)
def test_schedule_windows(
    lock: VirtualLock, clock: FakeTime, window: tuple[int, int], advance: int, opens: bool
) -> None:
    start, end = (int(T0) + w for w in window)
    assert lock.handle(PutCodeRequest(1, 1, "2468", "guest", start, end)).ok
    clock.advance(advance)
    event = lock.enter_pin("2468")
    assert isinstance(event, UnlockedEvent) is opens
    assert isinstance(event, IncorrectPinEvent) is not opens


def test_schedules_follow_the_lock_clock_not_the_wall(lock: VirtualLock) -> None:
    start = int(T0) + 3600
    lock.handle(PutCodeRequest(1, 1, "2468", "guest", start, start + 60))
    assert isinstance(lock.enter_pin("2468"), IncorrectPinEvent)
    lock.skew_clock(3600)  # the lock's clock runs an hour ahead
    assert isinstance(lock.enter_pin("2468"), UnlockedEvent)


# ----------------------------------------------------------------- manual, door, tamper, auto-lock
def test_manual_turn_toggles(lock: VirtualLock) -> None:
    assert lock.manual_turn() == UnlockedEvent(1, int(T0), Source.MANUAL)
    assert lock.manual_turn() == LockedEvent(2, int(T0), Source.MANUAL)


def test_door_events(lock: VirtualLock, events: list[LockEvent]) -> None:
    lock.set_door(DoorState.OPEN)
    assert lock.set_door(DoorState.OPEN) is None  # no change, no event
    lock.set_door(DoorState.AJAR)
    lock.set_door(DoorState.CLOSED)
    assert [e.door for e in events if isinstance(e, DoorEvent)] == [
        DoorState.OPEN,
        DoorState.AJAR,
        DoorState.CLOSED,
    ]


def test_tamper(lock: VirtualLock) -> None:
    assert lock.tamper() == TamperEvent(1, int(T0), TamperKind.CASE_OPENED)


def test_auto_lock(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, auto_lock_seconds=30)
    lock.handle(UnlockRequest(1))
    clock.advance(29)
    assert lock.tick() is None
    clock.advance(1)
    event = lock.tick()
    assert isinstance(event, LockedEvent) and event.source is Source.AUTO_LOCK
    assert lock.bolt is BoltState.LOCKED
    assert lock.tick() is None


def test_auto_lock_waits_for_the_door(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, auto_lock_seconds=30)
    lock.manual_turn()
    lock.set_door(DoorState.OPEN)
    clock.advance(60)
    assert lock.tick() is None and lock.bolt is BoltState.UNLOCKED
    lock.set_door(DoorState.CLOSED)  # re-arms: 30 s from now
    clock.advance(29)
    assert lock.tick() is None
    clock.advance(1)
    assert isinstance(lock.tick(), LockedEvent)


def test_no_auto_lock_by_default(lock: VirtualLock, clock: FakeTime) -> None:
    lock.handle(UnlockRequest(1))
    clock.advance(10_000)
    assert lock.tick() is None and lock.auto_lock_due is None


def test_manual_lock_cancels_auto_lock(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, auto_lock_seconds=5)
    lock.handle(UnlockRequest(1))
    lock.manual_turn()
    assert lock.auto_lock_due is None


# ----------------------------------------------------------------- event log
def test_read_events_since_a_sequence_number(lock: VirtualLock) -> None:
    for _ in range(30):
        lock.tamper()
    page = lock.handle(ReadEventsRequest(1, 5, 16))
    assert isinstance(page, ReadEventsResponse)
    assert [e.seq for e in page.events] == list(range(6, 22))
    assert (page.head_seq, page.oldest_seq) == (30, 1)
    rest = lock.handle(ReadEventsRequest(2, 21, 16))
    assert isinstance(rest, ReadEventsResponse)
    assert [e.seq for e in rest.events] == list(range(22, 31))
    done = lock.handle(ReadEventsRequest(3, 30, 16))
    assert isinstance(done, ReadEventsResponse) and done.events == ()


def test_event_log_overflow_drops_the_oldest(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, event_log_size=8)
    for _ in range(20):
        lock.tamper()
    page = lock.handle(ReadEventsRequest(1, 0, 16))
    assert isinstance(page, ReadEventsResponse)
    assert (page.head_seq, page.oldest_seq) == (20, 13)
    assert [e.seq for e in page.events] == list(range(13, 21))
    status = lock.handle(StatusRequest(2))
    assert isinstance(status, StatusResponse) and status.event_head_seq == 20


def test_empty_log(lock: VirtualLock) -> None:
    assert lock.handle(ReadEventsRequest(1)) == ReadEventsResponse(1, (), 0, 0)


def test_a_failing_listener_does_not_break_the_lock(lock: VirtualLock) -> None:
    def boom(event: LockEvent) -> None:
        raise RuntimeError("listener bug")

    lock.add_listener(boom)
    assert lock.handle(UnlockRequest(1)).ok
    lock.remove_listener(boom)


# ----------------------------------------------------------------- faults inside the lock
def test_jam_on_next_operation(lock: VirtualLock, events: list[LockEvent]) -> None:
    lock.faults.jam_next = True
    assert lock.handle(UnlockRequest(1)) == ErrorResponse(1, 3, ErrorCode.JAMMED)
    assert lock.bolt is BoltState.JAMMED
    assert events == [BoltFaultEvent(1, int(T0), BoltFault.JAMMED, BoltAction.UNLOCK, Source.BLE)]
    assert lock.handle(LockRequest(2)) == LockResponse(2, BoltState.LOCKED)  # one-shot


def test_obstruction_on_next_operation(lock: VirtualLock) -> None:
    lock.manual_turn()
    lock.faults.obstruct_next = True
    assert lock.handle(LockRequest(1)) == ErrorResponse(1, 2, ErrorCode.OBSTRUCTED)
    assert lock.bolt is BoltState.UNLOCKED


def test_jam_on_keypad_unlock(lock: VirtualLock) -> None:
    lock.handle(PutCodeRequest(1, 1, "1234", "a"))
    lock.faults.jam_next = True
    event = lock.enter_pin("1234")
    assert isinstance(event, BoltFaultEvent) and event.source is Source.KEYPAD


def test_busy(lock: VirtualLock) -> None:
    lock.faults.busy_next = True
    assert lock.handle(StatusRequest(1)) == ErrorResponse(1, 1, ErrorCode.BUSY)
    assert lock.handle(StatusRequest(2)).ok


def test_storage_full_fault(lock: VirtualLock) -> None:
    lock.handle(PutCodeRequest(1, 1, "1111", "a"))
    lock.faults.storage_full = True
    assert lock.handle(PutCodeRequest(2, 2, "2222", "b")) == ErrorResponse(
        2, 5, ErrorCode.STORAGE_FULL
    )
    assert lock.handle(PutCodeRequest(3, ANY_SLOT, "2222", "b")) == ErrorResponse(
        3, 5, ErrorCode.STORAGE_FULL
    )
    assert lock.handle(PutCodeRequest(4, 1, "1111", "a")).ok  # existing code: still idempotent


def test_low_battery(lock: VirtualLock, events: list[LockEvent]) -> None:
    lock.set_battery(LOW_BATTERY_PERCENT)
    assert events == [BatteryEvent(1, int(T0), LOW_BATTERY_PERCENT, True)]
    assert lock.handle(UnlockRequest(1)).ok
    lock.set_battery(2)
    assert lock.handle(LockRequest(2)) == ErrorResponse(2, 2, ErrorCode.LOW_BATTERY)
    assert lock.enter_pin("0000") is not None  # the keypad still reads
    lock.manual_turn(BoltState.LOCKED)  # a key needs no battery
    assert lock.bolt is BoltState.LOCKED


def test_battery_drains_per_operation(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, battery_drain_per_move=0.5, battery_drain_per_request=0)
    seen: list[LockEvent] = []
    lock.add_listener(seen.append)
    for i in range(4):
        lock.handle(UnlockRequest(i) if i % 2 else LockRequest(i))
    assert lock.battery == pytest.approx(98.0)
    battery = [e.level_percent for e in seen if isinstance(e, BatteryEvent)]
    assert battery == [99, 98]


def test_clock_drift(lock: VirtualLock, clock: FakeTime) -> None:
    lock.set_clock_drift(1000)  # 1000 ppm fast: +1 s per 1000 s
    clock.advance(10_000)
    assert lock.device_time() == int(T0) + 10_010
    lock.skew_clock(-10)
    assert lock.device_time() == int(T0) + 10_000


# ----------------------------------------------------------------- flags the GATT layer consumes
def test_one_shot_link_faults(lock: VirtualLock) -> None:
    lock.faults.disconnect_mid_command = True
    lock.faults.disconnect_mid_response = True
    assert lock.faults.consume("disconnect_mid_command")
    assert not lock.faults.consume("disconnect_mid_command")
    assert lock.faults.consume("disconnect_mid_response")
    assert not lock.faults.consume("disconnect_mid_response")


def test_dropped_notifications_counter(lock: VirtualLock) -> None:
    lock.faults.drop_notifications = 2
    assert [lock.faults.consume_drop_notification() for _ in range(3)] == [True, True, False]


def test_refuse_advertising(lock: VirtualLock, clock: FakeTime) -> None:
    assert lock.advertising_allowed()
    lock.refuse_advertising(5)
    assert not lock.advertising_allowed()
    clock.advance(5)
    assert lock.advertising_allowed()


# ----------------------------------------------------------------- persistence
def test_state_survives_a_restart(clock: FakeTime) -> None:
    lock = VirtualLock(time_source=clock, event_log_size=16, auto_lock_seconds=60)
    lock.handle(SetTimeRequest(1, 1_800_000_000, "Europe/Paris", 60))
    lock.handle(PutCodeRequest(2, 3, "482913", "Alice", 1_800_000_000, 1_800_086_400))
    lock.set_clock_drift(50)
    lock.enter_pin("482913")
    lock.set_door(DoorState.AJAR)
    saved = json.loads(json.dumps(lock.to_dict()))
    clock.advance(100)  # the lock was off for 100 s; its RTC kept running
    restored = VirtualLock.from_dict(saved, time_source=clock)
    assert restored.to_dict() == lock.to_dict()
    assert restored.codes == lock.codes
    assert restored.events == lock.events
    assert restored.device_time() == lock.device_time()
    assert restored.bolt is BoltState.UNLOCKED and restored.door is DoorState.AJAR
    assert restored.tamper().seq == lock.head_seq + 1


# ----------------------------------------------------------------- behind the sans-IO connection
def test_virtual_lock_behind_a_peripheral_connection(lock: VirtualLock) -> None:
    key = bytes(range(16))
    bridge, side = CentralConnection(key), PeripheralConnection(key)
    lock.add_listener(lambda e: to_bridge.extend(side.send(e)))
    to_bridge: list[bytes] = []

    def lock_gets(chunks: list[bytes]) -> None:
        for chunk in chunks:
            side.receive_data(chunk)
        while (event := side.next_event()) is not NEED_DATA:
            to_bridge.extend(side.data_to_send())
            if isinstance(event, Request):
                to_bridge.extend(side.send(lock.handle(event)))
        to_bridge.extend(side.data_to_send())

    def bridge_gets() -> list[object]:
        for chunk in to_bridge:
            bridge.receive_data(chunk)
        to_bridge.clear()
        out = []
        while (event := bridge.next_event()) is not NEED_DATA:
            out.append(event)
        return out

    lock_gets(bridge.start_handshake())
    assert len(bridge_gets()) == 1
    lock_gets(bridge.send(UnlockRequest(bridge.new_request_id())))
    got = bridge_gets()
    assert [type(e) for e in got] == [UnlockedEvent, UnlockResponse]


def test_clock_drift_and_timezone_at_construction(clock: FakeTime) -> None:
    lock = VirtualLock(
        time_source=clock, clock_drift_ppm=-500, timezone="Asia/Tokyo", utc_offset_minutes=540
    )
    clock.advance(2000)
    status = lock.handle(StatusRequest(1))
    assert isinstance(status, StatusResponse)
    assert status.device_time == int(T0) + 1999
    assert (status.timezone, status.utc_offset_minutes) == ("Asia/Tokyo", 540)


def test_four_aa_cells_last_a_year_of_twenty_operations_a_day(clock: FakeTime) -> None:
    """The default battery model: 20 bolt moves a day, each with a status and an event read,
    and a bridge visit (status + event read) every minute, for 365 days, leave charge."""
    lock = VirtualLock(time_source=clock)
    moves, visits = 20 * 365, 24 * 60 * 365
    lock.battery -= moves * (lock.battery_drain_per_move + 3 * lock.battery_drain_per_request)
    lock.battery -= visits * 2 * lock.battery_drain_per_request
    assert 0 < lock.battery < 20  # a year, and not much more


# ---------------------------------------------------------------- keypad master mode
def test_master_mode_programs_an_ongoing_code_in_the_highest_free_slot(lock: VirtualLock,
                                                                       events: list[LockEvent]) -> None:
    from firmware_bridge.simulator.lock import DEFAULT_MASTER_PIN

    lock.capacity = 5
    lock.codes[5] = CodeEntry(5, "1111", "Cloud", None, None)
    slot = lock.program_at_keypad(DEFAULT_MASTER_PIN, "8642")
    assert slot == 4 and lock.codes[4] == CodeEntry(4, "8642", "", None, None)
    assert events == []  # nothing in the log: the bridge notices the code count
    lock.enter_pin("8642")
    assert lock.bolt is BoltState.UNLOCKED


@pytest.mark.parametrize(("master", "pin", "why"), [
    ("00000000", "8642", "wrong master code"),
    (None, "12", "4 to 8 digits"),
    (None, "1111", "in use"),
    (None, None, "in use"),  # the master code itself
])
def test_master_mode_refuses(lock: VirtualLock, events: list[LockEvent], master, pin, why) -> None:
    from firmware_bridge.simulator.lock import KeypadRefused

    lock.codes[1] = CodeEntry(1, "1111", "Cloud", None, None)
    with pytest.raises(KeypadRefused, match=why):
        lock.program_at_keypad(master or lock.master_pin, pin or lock.master_pin)
    assert sorted(lock.codes) == [1]
    if master:  # a wrong master code is a wrong PIN, lockout included
        assert kinds(events) == ["IncorrectPinEvent"]


def test_master_code_survives_a_power_cycle(lock: VirtualLock, clock: FakeTime) -> None:
    lock.master_pin = "97531086"
    again = VirtualLock.from_dict(json.loads(json.dumps(lock.to_dict())), time_source=clock)
    assert again.master_pin == "97531086"


def test_settings_report_auto_lock_and_the_serial(clock: FakeTime) -> None:
    from firmware_bridge.protocol import GetSettingsRequest, GetSettingsResponse
    from firmware_bridge.protocol.const import NO_KEYPAD_BATTERY

    off = VirtualLock(time_source=clock)
    assert off.handle(GetSettingsRequest(1)) == GetSettingsResponse(1, 0, NO_KEYPAD_BATTERY, "")
    on = VirtualLock(time_source=clock, auto_lock_seconds=30.0)
    on.serial = "HALO-000042"
    assert on.handle(GetSettingsRequest(2)) == GetSettingsResponse(2, 30, NO_KEYPAD_BATTERY, "HALO-000042")
