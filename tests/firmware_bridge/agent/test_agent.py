"""The agent over a fake provider and fake locks: commands, results, events, faults, restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from firmware_bridge.agent.journal import Journal
from firmware_bridge.agent.model import CodeEntry, Command, Result

PIN = "482913"


def _ops(lock, name):
    return [op for op in lock.operations if op[0] == name]


def _put(slot=3, code=PIN, access_code_id="ac-1", **extra):
    return {
        "access_code_id": access_code_id,
        "slot": slot,
        "code": code,
        "device_name": "Guest",
        "starts_at": None,
        "ends_at": None,
        **extra,
    }


def test_unlock_executed_reported_once_and_event_forwarded(harness):
    h = harness()

    async def body(h):
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await h.until(lambda: "c1" in h.provider.results and ("lock-1", 1) in h.provider.events)
        await asyncio.sleep(0.05)

    h.run(body)
    assert h.lock.bolt == "unlocked"
    assert h.provider.results["c1"]["status"] == "succeeded"
    assert h.provider.result_posts == ["c1"]
    event = h.provider.events[("lock-1", 1)]
    assert event["type"] == "unlocked" and event["data"]["source"] == "ble"
    assert event["occurred_at"].endswith("Z")


def test_redelivered_command_not_executed_twice(harness):
    h = harness()

    async def body(h):
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await h.until(lambda: "c1" in h.provider.results)
        # The provider's lease ran out before it stored the result: same id again.
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await h.until(lambda: len(h.provider.result_posts) == 2)

    h.run(body)
    assert len(_ops(h.lock, "unlocked")) == 1
    assert h.provider.result_posts == ["c1", "c1"]


def test_result_lost_in_a_crash_is_reported_after_restart_without_touching_the_lock(
    harness, tmp_path
):
    journal = Journal(tmp_path / "journal.sqlite3")
    command = Command("c9", "lock-1", "unlock", {"action_id": "a9"})
    journal.start(command)
    journal.finish(command, Result.ok())
    journal.close()
    h = harness()

    async def body(h):
        await h.until(lambda: "c9" in h.provider.results)
        h.provider.queue_command("c9", "lock-1", "unlock", action_id="a9")
        await h.until(lambda: len(h.provider.result_posts) == 2)

    h.run(body)
    assert _ops(h.lock, "unlocked") == []
    assert Journal(tmp_path / "journal.sqlite3").unreported() == []


def test_interrupted_unlock_checked_on_the_lock_before_running_again(harness, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.start(Command("c5", "lock-1", "unlock", {"action_id": "a5"}))  # died mid-unlock
    journal.close()
    h = harness()
    h.lock.bolt = "unlocked"  # it had happened

    async def body(h):
        h.provider.queue_command("c5", "lock-1", "unlock", action_id="a5")
        await h.until(lambda: "c5" in h.provider.results)

    h.run(body)
    assert h.provider.results["c5"]["status"] == "succeeded"
    assert _ops(h.lock, "unlocked") == []


def test_answer_lost_then_verified_not_repeated(harness):
    h = harness()
    h.lock.drop_link_after_next = True

    async def body(h):
        await h.until(lambda: h.lock.connects >= 1)
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await h.until(lambda: "c1" in h.provider.results)

    h.run(body)
    assert h.provider.results["c1"]["status"] == "succeeded"
    assert len(_ops(h.lock, "unlocked")) == 1
    assert h.lock.connects >= 2


def test_link_dropped_before_unlock_retried_once(harness):
    h = harness()

    async def body(h):
        await h.until(lambda: h.lock.connects >= 1 and h.provider.code_syncs)
        h.lock.drop_link_before_next = True
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await h.until(lambda: "c1" in h.provider.results)

    h.run(body)
    assert h.provider.results["c1"]["status"] == "succeeded"
    assert h.lock.bolt == "unlocked"


def test_jam_fails_the_action_with_lock_jammed(harness):
    h = harness()
    h.lock.jam_next = True

    async def body(h):
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await h.until(
            lambda: (
                "c1" in h.provider.results
                and any(e["type"] == "jammed" for e in h.provider.events.values())
            )
        )

    h.run(body)
    assert h.provider.results["c1"] == {
        "status": "failed",
        "error_code": "LOCK_JAMMED",
        "message": "bolt jammed",
    }
    assert h.lock.bolt == "locked"


def test_unreachable_lock_offline_then_back_by_itself_and_parked_code_applied(harness):
    h = harness()
    h.lock.reachable = False
    h.provider.desired["lock-1"] = [_put()]  # the cloud's table holds pending codes too

    def online_in_last_heartbeat():
        return (
            h.provider.heartbeats
            and h.provider.heartbeats[-1]
            and h.provider.heartbeats[-1][0]["online"]
        )

    async def body(h):
        await h.until(
            lambda: (
                h.provider.heartbeats
                and h.provider.heartbeats[-1]
                and h.provider.heartbeats[-1][0]["online"] is False
            )
        )
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        h.provider.queue_command("c2", "lock-1", "put_code", **_put())
        await h.until(lambda: "c1" in h.provider.results)
        assert h.provider.results["c1"]["error_code"] == "DEVICE_OFFLINE"
        await asyncio.sleep(0.1)
        assert "c2" not in h.provider.results  # waits for the lock, the provider keeps it pending
        h.lock.reachable = True
        await h.until(lambda: "c2" in h.provider.results and online_in_last_heartbeat())

    h.run(body)
    assert h.provider.results["c2"]["status"] == "succeeded"
    assert h.lock.codes[3].code == PIN
    assert _ops(h.lock, "unlocked") == []


def test_reconcile_puts_missing_keeps_unmanaged_and_clears_only_what_the_cloud_deleted(harness):
    h = harness()
    now = datetime.now(UTC).replace(microsecond=0)
    h.lock.codes = {
        1: CodeEntry(1, "1111", "Kept"),
        2: CodeEntry(2, "2222", "Stale"),  # PIN changed in the cloud
        7: CodeEntry(7, "7777", "Deleted"),  # the cloud's, deleted since
        9: CodeEntry(9, "9999", "Stranger", now, now + timedelta(days=1)),  # not the cloud's
    }
    h.provider.desired["lock-1"] = [
        _put(1, "1111", "ac-1", device_name="Kept"),
        _put(2, "2020", "ac-2", device_name="Stale"),
        _put(
            4,
            "4444",
            "ac-4",
            device_name="A very long guest name",
            starts_at=(now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            ends_at=(now + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        ),
    ]
    h.provider.removing["lock-1"] = [{"access_code_id": "ac-7", "slot": 7},
                                     {"access_code_id": "ac-8", "slot": 8}]  # slot 8 is empty already

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)

    h.run(body)
    stamp = now.isoformat().replace("+00:00", "Z")
    until = (now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert h.provider.code_syncs[0] == (
        "lock-1",
        {"present": ["ac-1", "ac-2", "ac-4"], "unknown_slots": [9], "removed_slots": [7],
         "unmanaged": [{"slot": 9, "code": "9999", "name": "Stranger", "starts_at": stamp, "ends_at": until}]},
    )
    assert sorted(h.lock.codes) == [1, 2, 4, 9]
    assert h.lock.codes[2].code == "2020"
    assert h.lock.codes[4].name == "A very long gu"
    assert h.lock.codes[4].ends_at == now + timedelta(hours=2)
    assert [slot for _, slot in _ops(h.lock, "put_code")] == [2, 4]  # slot 1 left alone
    assert [slot for _, slot in _ops(h.lock, "delete_code")] == [7]


def test_second_reconcile_changes_nothing(harness):
    h = harness(reconcile_interval=0.0)
    h.provider.desired["lock-1"] = [_put(1, "1111", "ac-1")]

    async def body(h):
        await h.until(lambda: len(h.provider.code_syncs) >= 1)
        h.agent.poke("lock-1")
        await h.until(lambda: len(h.provider.code_syncs) >= 2)

    h.run(body)
    assert len(_ops(h.lock, "put_code")) == 1
    assert h.provider.code_syncs[1][1] == {
        "present": ["ac-1"],
        "unknown_slots": [],
        "removed_slots": [],
        "unmanaged": [],
    }


def test_a_code_added_at_the_lock_is_reported_at_the_next_status_read(harness):
    """The lock's code count changed without a command of ours: the table is read again at once,
    not at the next reconcile interval."""
    h = harness(reconcile_interval=3600.0)

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        h.lock.codes[250] = CodeEntry(250, "8642", "")  # programmed at the keypad
        h.agent.poke("lock-1")
        await h.until(lambda: len(h.provider.code_syncs) >= 2)

    h.run(body)
    assert h.provider.code_syncs[1][1]["unmanaged"] == [
        {"slot": 250, "code": "8642", "name": None, "starts_at": None, "ends_at": None}]
    assert 250 in h.lock.codes


def test_the_agents_own_code_writes_do_not_trigger_a_reconcile(harness):
    h = harness(reconcile_interval=3600.0)

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        h.provider.queue_command("c1", "lock-1", "put_code", **_put())
        await h.until(lambda: "c1" in h.provider.results)
        reads = len(_ops(h.lock, "read_events"))
        h.agent.poke("lock-1")
        # Status is read before the events: by then a reconcile would have been asked for.
        await h.until(lambda: len(_ops(h.lock, "read_events")) > reads)
        assert not h.agent.workers["lock-1"]._needs_reconcile

    h.run(body)
    assert len(h.provider.code_syncs) == 1


def test_clock_drift_reported_then_corrected(harness):
    h = harness()
    h.lock.clock_offset = timedelta(hours=-3)
    h.lock.timezone = "UTC"

    async def body(h):
        await h.until(lambda: _ops(h.lock, "set_time"))
        await h.until(lambda: any(hb and abs(_drift(hb[0])) < 5 for hb in h.provider.heartbeats))

    h.run(body)
    reported = [hb[0] for hb in h.provider.heartbeats if hb and "device_time" in hb[0]]
    assert _drift(reported[0]) < -3 * 3600 + 60  # the provider saw the wrong time first
    assert "timezone" not in reported[0]  # ... but never the lock's wrong timezone
    assert reported[-1]["timezone"] == "Europe/Paris"
    assert abs(h.lock.clock_offset.total_seconds()) < 5
    assert h.lock.timezone == "Europe/Paris"


def _drift(entry) -> float:
    device_time = datetime.fromisoformat(entry["device_time"].replace("Z", "+00:00"))
    return (device_time - datetime.now(UTC)).total_seconds()


def test_keypad_events_forwarded_in_order_after_a_poke(harness):
    h = harness(idle_disconnect=0.05)
    h.lock.codes[3] = CodeEntry(3, PIN, "Guest")
    h.provider.desired["lock-1"] = [_put()]

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        await asyncio.sleep(0.2)  # idle: the link is dropped
        assert not h.agent.workers["lock-1"].connected
        h.lock.enter_pin("0000")
        h.lock.enter_pin(PIN)
        h.backend.poke("lock-1")  # what the sandbox keypad (or a notification) does
        await h.until(lambda: len(h.provider.events) == 2)

    h.run(body)
    assert h.provider.event_order == [("lock-1", 1), ("lock-1", 2)]
    assert h.provider.events[("lock-1", 1)]["data"] == {"pin": "0000"}
    assert h.provider.events[("lock-1", 2)]["data"] == {"source": "keypad", "slot": 3}


def test_missed_events_fetched_from_the_providers_last_seq(harness):
    h = harness()
    for pin in ("1", "2", "3", "4"):
        h.lock.log("incorrect_pin", pin=pin)
    h.provider.lock_infos = [h.infos[0].__class__(**{**h.infos[0].__dict__, "last_event_seq": 2})]

    async def body(h):
        await h.until(lambda: len(h.provider.events) == 2)

    h.run(body)
    assert h.provider.event_order == [("lock-1", 3), ("lock-1", 4)]


def test_provider_outage_loses_nothing(harness):
    h = harness()

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        h.provider.down = True
        h.lock.enter_pin("0000")
        h.agent.poke("lock-1")
        await asyncio.sleep(0.2)
        h.provider.queue_command("c1", "lock-1", "lock", action_id="a1")  # was leased just before
        await asyncio.sleep(0.2)
        assert not h.provider.events
        h.provider.down = False
        await h.until(lambda: h.provider.events and "c1" in h.provider.results)

    h.run(body)
    assert h.provider.result_posts == ["c1"]


def test_locks_work_in_parallel_one_operation_at_a_time_each(harness):
    h = harness(n_locks=3)

    async def body(h):
        for n in range(1, 4):
            for k in range(3):
                h.provider.queue_command(
                    f"c{n}-{k}",
                    f"lock-{n}",
                    "unlock" if k % 2 == 0 else "lock",
                    action_id=f"a{n}{k}",
                )
        await h.until(lambda: len(h.provider.results) == 9)

    h.run(body)
    assert all(r["status"] == "succeeded" for r in h.provider.results.values())
    for fake in h.fakes.values():
        assert [op for op, _ in fake.operations if op in ("locked", "unlocked")] == [
            "unlocked",
            "locked",
            "unlocked",
        ]


def test_idle_disconnect_and_stay_connected_while_busy(harness):
    h = harness(idle_disconnect=0.3)

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        for k in range(4):
            h.provider.queue_command(
                f"c{k}", "lock-1", "unlock" if k % 2 == 0 else "lock", action_id=f"a{k}"
            )
        await h.until(lambda: len(h.provider.results) == 4)
        assert h.agent.workers["lock-1"].connected
        await asyncio.sleep(0.6)
        assert not h.agent.workers["lock-1"].connected

    h.run(body)
    assert h.lock.connects == 1  # the queued commands shared one connection


def test_unknown_lock_command_refused(harness):
    h = harness()

    async def body(h):
        h.provider.queue_command("c1", "lock-404", "unlock", action_id="a1")
        await h.until(lambda: "c1" in h.provider.results)

    h.run(body)
    assert h.provider.results["c1"]["error_code"] == "DEVICE_OFFLINE"


def test_delete_of_an_empty_slot_succeeds(harness):
    h = harness()

    async def body(h):
        h.provider.queue_command("c1", "lock-1", "delete_code", access_code_id="ac-1", slot=7)
        await h.until(lambda: "c1" in h.provider.results)

    h.run(body)
    assert h.provider.results["c1"]["status"] == "succeeded"


def test_sigterm_lets_the_operation_under_way_finish_and_report(harness, tmp_path):
    h = harness()

    async def body(h, stop):
        await h.until(lambda: h.provider.code_syncs)
        h.lock.op_delay = 0.3  # the motor is moving when the stop comes
        h.provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        h.provider.queue_command("c2", "lock-1", "lock", action_id="a2")
        await asyncio.sleep(0.15)
        assert not h.provider.results
        stop.set()

    h.run(body, stop_inside=True)
    assert h.lock.bolt == "unlocked"
    assert h.provider.results == {"c1": {"status": "succeeded", "error_code": None, "message": None}}
    assert _ops(h.lock, "locked") == []  # the queued one stays with the provider
    assert Journal(tmp_path / "journal.sqlite3").unreported() == []


def test_first_poll_takes_back_the_bridges_leases_and_later_ones_do_not(harness):
    h = harness()

    async def body(h):
        await h.until(lambda: len(h.provider.poll_resume_flags) >= 3)

    h.run(body)
    flags = h.provider.poll_resume_flags
    assert flags[0] is True and not any(flags[1:]), flags


def test_a_visit_falling_due_on_an_open_link_schedules_the_next_one(harness):
    """A lock whose link is still open when its visit falls due (commands kept it busy past
    the poll interval) is visited once per interval, not in a loop that drains its battery."""
    h = harness(poll_interval=0.3, idle_disconnect=30.0)

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        await h.until(lambda: len(_ops(h.lock, "status")) >= 2)  # a visit on the open link
        visits = len(_ops(h.lock, "status"))
        for _ in range(500):  # every chance for a loop to run; no time passes
            await asyncio.sleep(0)
        assert len(_ops(h.lock, "status")) <= visits + 1
        assert h.agent.workers["lock-1"].connected

    h.run(body)
    assert h.lock.connects == 1


def test_a_first_put_never_overwrites_a_code_set_at_the_lock(harness):
    h = harness()
    h.lock.codes[3] = CodeEntry(3, "8642", "")  # the keypad took slot 3 first

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        h.provider.queue_command("c1", "lock-1", "put_code", **_put(), replace=False)
        await h.until(lambda: "c1" in h.provider.results)

    h.run(body)
    assert h.provider.results["c1"]["status"] == "failed"
    assert h.provider.results["c1"]["error_code"] == "SLOT_OCCUPIED"
    assert h.lock.codes[3].code == "8642"


def test_reconcile_leaves_a_code_set_at_the_lock_in_a_new_codes_slot(harness):
    h = harness()
    h.lock.codes[3] = CodeEntry(3, "8642", "")
    h.provider.desired["lock-1"] = [_put(replace=False)]

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)

    h.run(body)
    report = h.provider.code_syncs[0][1]
    assert report["present"] == [] and [found["slot"] for found in report["unmanaged"]] == [3]
    assert h.lock.codes[3].code == "8642" and _ops(h.lock, "put_code") == []


def test_the_agent_logs_a_command_with_the_request_id_of_the_api_call_that_queued_it(harness, caplog):
    import json
    import logging

    from bridge_contract.logs import JsonFormatter

    h = harness()

    async def body(h):
        h.provider.queue_command("c1", "lock-1", "unlock", request_id="seam-unlock-0001", action_id="a1")
        await h.until(lambda: "c1" in h.provider.results)

    with caplog.at_level(logging.INFO, logger="firmware_bridge.agent.worker"):
        h.run(body)
    lines = [r for r in caplog.records if getattr(r, "command_id", None) == "c1"]
    assert [r.request_id for r in lines] == ["seam-unlock-0001"] * 2, "the start and the result"
    assert "request seam-unlock-0001" in lines[-1].getMessage() and "succeeded" in lines[-1].getMessage()
    entry = json.loads(JsonFormatter().format(lines[-1]))
    assert (entry["request_id"], entry["command_id"]) == ("seam-unlock-0001", "c1")


def test_deleting_a_code_set_at_the_lock_leaves_a_slot_reprogrammed_since(harness):
    h = harness()
    h.lock.codes[7] = CodeEntry(7, "1357", "")  # the cloud asked to delete 8642 here; the keypad put 1357

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)
        h.provider.queue_command("c1", "lock-1", "delete_code", access_code_id="ac-7", slot=7, code="8642")
        h.provider.queue_command("c2", "lock-1", "delete_code", access_code_id="ac-8", slot=7, code="1357")
        await h.until(lambda: {"c1", "c2"} <= set(h.provider.results))

    h.run(body)
    assert h.provider.results["c1"]["status"] == h.provider.results["c2"]["status"] == "succeeded"
    assert [slot for _, slot in _ops(h.lock, "delete_code")] == [7]  # only the second matched
    assert 7 not in h.lock.codes


def test_reconcile_clears_an_unmanaged_slot_only_while_it_holds_the_code(harness):
    h = harness()
    h.lock.codes = {7: CodeEntry(7, "1357", ""), 8: CodeEntry(8, "2468", "")}
    h.provider.removing["lock-1"] = [{"access_code_id": "ac-7", "slot": 7, "code": "8642"},
                                     {"access_code_id": "ac-8", "slot": 8, "code": "2468"}]

    async def body(h):
        await h.until(lambda: h.provider.code_syncs)

    h.run(body)
    report = h.provider.code_syncs[0][1]
    assert report["removed_slots"] == [8] and [found["slot"] for found in report["unmanaged"]] == [7]
    assert sorted(h.lock.codes) == [7]
