"""The dispatcher against a real local HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from provider.dispatcher import Dispatcher, deliveries
from provider.extensions import db
from provider.models.webhook import (
    DELIVERED,
    DISABLED,
    EXPIRED,
    FAILING,
    PENDING,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from provider.schemas.fields import isoformat_z
from provider.services import wakeups, webhooks
from tests.provider.webhooks.conftest import FAST
from tests.provider.webhooks.receiver import Reply


def _deliveries(webhook_id):
    db.session.expire_all()
    return db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id).order_by(
            WebhookDelivery.event_seq
        )
    ).all()


def _attempts(delivery_id):
    return db.session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)
    ).all()


def _reload(webhook):
    db.session.expire_all()
    return db.session.get(Webhook, webhook.id)


def test_delivers_a_signed_payload_that_standardwebhooks_verifies(
    app, receiver, dispatcher, make_webhook, emit, frozen_clock
):
    hook, secret = make_webhook(receiver.url)
    assert secret.startswith("whsec_")
    event = emit("access_code.deleted", device_id="lock-1",
                 data={"lock_id": "lock-1", "access_code_id": "ac-1", "name": None, "status": "success"})

    assert dispatcher.drain() == 1

    [got] = receiver.received
    payload = StandardWebhook(secret).verify(got.body, got.headers)
    assert payload == {
        "event_id": event.event_id,
        "event_type": "access_code.deleted",
        "device_id": "lock-1",
        "user_id": "user-1",
        "timestamp": isoformat_z(event.occurred_at),
        "data": {"lock_id": "lock-1", "access_code_id": "ac-1", "name": None, "status": "success",
                 "device_id": "lock-1"},
        # Every field of data at the top level too (Seam's examples read them there).
        "lock_id": "lock-1",
        "access_code_id": "ac-1",
        "name": None,
        "status": "success",
        "sequence": 1,
        "created_at": isoformat_z(event.created_at),
    }
    assert got.headers["webhook-id"] == event.event_id
    assert got.headers["webhook-timestamp"] == str(int(frozen_clock.now().timestamp()))
    assert got.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(webhooks.new_secret()).verify(got.body, got.headers)
    [delivery] = _deliveries(hook.id)
    assert delivery.status == DELIVERED and delivery.attempts == 1
    [attempt] = _attempts(delivery.id)
    assert attempt.succeeded and attempt.status_code == 204 and attempt.error is None
    assert attempt.latency_ms >= 0


def test_only_events_in_the_filter_are_delivered(app, receiver, dispatcher, make_webhook, emit):
    make_webhook(receiver.url, ["device.offline"])
    emit("device.online")
    wanted = emit("device.offline")
    dispatcher.drain()
    assert receiver.event_ids() == [wanted.event_id]


def test_events_before_registration_are_not_sent(app, receiver, dispatcher, make_webhook, emit):
    emit("device.online")
    make_webhook(receiver.url)
    later = emit("device.offline")
    dispatcher.drain()
    assert receiver.event_ids() == [later.event_id]


def test_500_is_retried_with_the_same_id_and_body(app, receiver, dispatcher, make_webhook, emit, frozen_clock):
    replies = iter([Reply(500), Reply(502), Reply(200)])
    receiver.respond = lambda _: next(replies)
    hook, secret = make_webhook(receiver.url)
    emit()

    dispatcher.drain()
    [delivery] = _deliveries(hook.id)
    assert delivery.status == PENDING and delivery.attempts == 1 and delivery.last_status_code == 500
    first_wait = delivery.next_attempt_at - frozen_clock.now()
    assert timedelta(seconds=5) <= first_wait <= timedelta(seconds=6)
    assert dispatcher.drain() == 0  # not due yet

    frozen_clock.advance(first_wait.total_seconds())
    dispatcher.drain()
    [delivery] = _deliveries(hook.id)
    second_wait = delivery.next_attempt_at - frozen_clock.now()
    assert timedelta(minutes=5) <= second_wait <= timedelta(minutes=6)

    frozen_clock.advance(second_wait.total_seconds())
    dispatcher.drain()
    [delivery] = _deliveries(hook.id)
    assert delivery.status == DELIVERED and delivery.attempts == 3
    assert len({r.body for r in receiver.received}) == 1
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    # standardwebhooks checks the timestamp against the wall clock: the first one is "now".
    StandardWebhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    log = _attempts(delivery.id)
    assert [(a.attempt, a.status_code, a.succeeded) for a in log] == [
        (1, 500, False), (2, 502, False), (3, 200, True)
    ]
    assert log[0].error.startswith("HTTP 500")


def test_a_timeout_is_retried(app, receiver, make_webhook, emit, frozen_clock):
    dispatcher = Dispatcher(app, settings=replace(FAST, timeout=0.3), sweep=lambda: None)
    replies = iter([Reply(200, delay=1.0), Reply(200)])
    receiver.respond = lambda _: next(replies)
    hook, _ = make_webhook(receiver.url)
    emit()
    dispatcher.drain()
    [delivery] = _deliveries(hook.id)
    assert delivery.status == PENDING
    assert "timed out" in delivery.last_error
    frozen_clock.advance(10)
    dispatcher.drain()
    [delivery] = _deliveries(hook.id)
    dispatcher.close()
    assert delivery.status == DELIVERED and len(receiver.received) == 2


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(app, receiver, dispatcher, make_webhook, emit, frozen_clock, status):
    replies = iter([Reply(status, {"Retry-After": "120"}), Reply(200)])
    receiver.respond = lambda _: next(replies)
    hook, _ = make_webhook(receiver.url)
    emit()
    dispatcher.drain()
    [delivery] = _deliveries(hook.id)
    assert delivery.next_attempt_at == frozen_clock.now() + timedelta(seconds=120)
    frozen_clock.advance(119)
    assert dispatcher.drain() == 0
    frozen_clock.advance(1)
    assert dispatcher.drain() == 1
    assert _deliveries(hook.id)[0].status == DELIVERED


def test_410_disables_the_webhook(app, receiver, dispatcher, make_webhook, emit, frozen_clock):
    receiver.respond = lambda _: Reply(410)
    hook, _ = make_webhook(receiver.url)
    event = emit()
    dispatcher.drain()
    hook = _reload(hook)
    assert hook.status == DISABLED and "410" in hook.status_reason
    emit()
    frozen_clock.advance(3600)
    assert dispatcher.drain() == 0
    assert receiver.event_ids() == [event.event_id]
    # Re-enabled, the pending delivery resumes; events from the disabled time are not queued.
    receiver.respond = lambda _: Reply(200)
    webhooks.update_webhook(hook, enabled=True)
    db.session.commit()
    dispatcher.drain()
    assert receiver.event_ids() == [event.event_id, event.event_id]


def test_retries_span_three_days_then_expire_and_mark_failing(
    app, receiver, dispatcher, make_webhook, emit, frozen_clock
):
    receiver.respond = lambda _: Reply(500)
    hook, _ = make_webhook(receiver.url)
    emit()
    start = frozen_clock.now()
    times = []
    for _ in range(100):
        if not dispatcher.drain():
            break
        times.append(frozen_clock.now())
        [delivery] = _deliveries(hook.id)
        if delivery.status != PENDING:
            break
        frozen_clock.advance((delivery.next_attempt_at - frozen_clock.now()).total_seconds())
    [delivery] = _deliveries(hook.id)
    assert delivery.status == EXPIRED
    assert times[-1] - start >= timedelta(days=3)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert gaps[:5] == sorted(gaps[:5]) and gaps[0] >= 5 and max(gaps) <= 36000 * 1.2 + 1
    assert len(times) < 20
    hook = _reload(hook)
    assert hook.status == FAILING and "expired" in hook.status_reason
    # One success brings it back.
    receiver.respond = lambda _: Reply(200)
    emit()
    dispatcher.drain()
    assert _reload(hook).status == "active"


def test_consecutive_failures_mark_the_webhook_failing(
    app, receiver, dispatcher, make_webhook, emit, frozen_clock
):
    receiver.respond = lambda _: Reply(500, delay=0)
    hook, _ = make_webhook(receiver.url)
    for i in range(deliveries.FAILING_AFTER):
        emit(device_id=f"lock-{i}")
    dispatcher.drain()
    hook = _reload(hook)
    assert hook.status == FAILING
    assert f"{deliveries.FAILING_AFTER} consecutive failed attempts" in hook.status_reason
    assert "HTTP 500" in hook.status_reason


def test_per_device_order_holds_while_other_devices_flow(
    app, receiver, dispatcher, make_webhook, emit, frozen_clock
):
    failures = {"left": 3}

    def respond(got):
        if got.json["device_id"] == "lock-a" and failures["left"]:
            failures["left"] -= 1
            return Reply(500)
        return Reply(200)

    receiver.respond = respond
    make_webhook(receiver.url)
    a = [emit(device_id="lock-a").event_id for _ in range(3)]
    b = [emit(device_id="lock-b").event_id for _ in range(3)]
    dispatcher.drain()
    # lock-a's first event is failing: its later events wait, lock-b's all go through.
    received = receiver.event_ids()
    assert [e for e in received if e in b] == b
    assert [e for e in received if e in a] == [a[0]]
    for _ in range(5):
        frozen_clock.advance(3 * 3600)
        dispatcher.drain()
    delivered_a = []
    for event_id in receiver.event_ids():
        if event_id in a and (not delivered_a or delivered_a[-1] != event_id):
            delivered_a.append(event_id)
    assert delivered_a == a
    # Every send of lock-a's event n+1 came after the last send of event n.
    positions = {e: [i for i, x in enumerate(receiver.event_ids()) if x == e] for e in a}
    assert max(positions[a[0]]) < min(positions[a[1]]) < min(positions[a[2]])


def test_secret_rotation_sends_both_signatures_during_the_grace_period(
    app, receiver, dispatcher, make_webhook, emit, frozen_clock
):
    hook, old = make_webhook(receiver.url)
    new = webhooks.rotate_secret(hook, timedelta(hours=1))
    db.session.commit()
    assert new != old and new.startswith("whsec_")
    emit()
    dispatcher.drain()
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    StandardWebhook(old).verify(got.body, got.headers)
    StandardWebhook(new).verify(got.body, got.headers)

    # The grace period ends (moved, not waited for: the verifier checks timestamps on wall time).
    hook = _reload(hook)
    hook.previous_secret_expires_at = frozen_clock.now() - timedelta(seconds=1)
    db.session.commit()
    emit()
    dispatcher.drain()
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    StandardWebhook(new).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(old).verify(got.body, got.headers)


def test_redeliver_sends_a_delivered_event_again(app, receiver, dispatcher, make_webhook, emit):
    hook, _ = make_webhook(receiver.url)
    event = emit()
    dispatcher.drain()
    delivery = webhooks.redeliver(_reload(hook), event.event_id)
    db.session.commit()
    assert delivery.status == PENDING
    dispatcher.drain()
    assert receiver.event_ids() == [event.event_id, event.event_id]
    [delivery] = _deliveries(hook.id)
    assert delivery.status == DELIVERED and delivery.attempts == 2
    assert webhooks.redeliver(_reload(hook), "00000000-0000-4000-8000-000000000000") is None


def test_a_lease_held_by_a_dead_dispatcher_expires(app, receiver, dispatcher, make_webhook, emit, frozen_clock):
    hook, _ = make_webhook(receiver.url)
    emit()
    deliveries.fan_out(frozen_clock.now())
    [claimed] = deliveries.claim("dead", frozen_clock.now(), timedelta(seconds=30), 10)
    assert dispatcher.drain() == 0  # leased by "dead"
    frozen_clock.advance(31)
    assert dispatcher.drain() == 1
    assert receiver.event_ids() == [claimed.event_id]
    # The dead one's late result does not undo or re-schedule anything.
    from provider.dispatcher.sender import Outcome

    deliveries.record("dead", [(claimed, Outcome(500, 1, "HTTP 500", None), frozen_clock.now())], frozen_clock.now(),
                  dispatcher.rng)
    [delivery] = _deliveries(hook.id)
    assert delivery.status == DELIVERED and delivery.attempts == 1


def test_fan_out_waits_on_young_sequence_holes_but_not_old_ones(app, make_webhook, emit, frozen_clock):
    hook, _ = make_webhook("http://127.0.0.1:9/hook")
    first = emit().seq
    moved = emit().seq + 5
    # PostgreSQL sequences may skip (other tests' rollbacks): start the cursor right before `first`.
    _reload(hook).fanout_seq = first - 1
    # Pretend the second event got seq + 5: a hole that may be an uncommitted transaction.
    db.session.query(WebhookDelivery).delete()
    from provider.models import Event

    db.session.execute(Event.__table__.update().where(Event.seq == moved - 5).values(seq=moved))
    db.session.commit()
    deliveries.fan_out(frozen_clock.now())
    assert [d.event_seq for d in _deliveries(hook.id)] == [first, moved]
    assert _reload(hook).fanout_seq == first
    deliveries.fan_out(frozen_clock.now())  # idempotent
    assert len(_deliveries(hook.id)) == 2
    frozen_clock.advance(deliveries.SEQ_GAP_SETTLE.total_seconds() + 1)
    deliveries.fan_out(frozen_clock.now())
    assert _reload(hook).fanout_seq == moved


def test_the_dispatcher_runs_the_device_sweep_periodically(app, frozen_clock):
    from provider.dispatcher.loop import _find_sweeper

    assert _find_sweeper(app) is not None  # the device side's sweep is found
    calls = []
    worker = Dispatcher(app, settings=FAST, sweep=lambda: calls.append(1))
    try:
        worker.run_once()
        worker.run_once()
        assert len(calls) == 1
        frozen_clock.advance(worker.settings.sweep_every)
        worker.run_once()
        assert len(calls) == 2
    finally:
        worker.close()


def test_a_waiting_device_keeps_its_later_events_out_of_the_due_range(
    app, receiver, dispatcher, make_webhook, emit, frozen_clock
):
    """While a device's first event waits for its retry, claims never step over the rest."""
    receiver.respond = lambda got: Reply(500 if got.json["device_id"] == "lock-a" else 200)
    hook, _ = make_webhook(receiver.url)
    emit(device_id="lock-a")
    emit(device_id="lock-a")
    emit(device_id="lock-b")
    dispatcher.drain()
    head, second, other = _deliveries(hook.id)
    assert head.status == PENDING and head.next_attempt_at > frozen_clock.now()
    assert second.next_attempt_at == head.next_attempt_at  # held as long as the head
    assert other.status == DELIVERED
    emit(device_id="lock-a")  # recorded while the device waits: waits too
    deliveries.fan_out(frozen_clock.now())
    assert _deliveries(hook.id)[-1].next_attempt_at == head.next_attempt_at
    # Disabling parks everything; enabling makes it due again, still in order.
    webhooks.update_webhook(_reload(hook), enabled=False)
    db.session.commit()
    assert all(d.next_attempt_at >= webhooks.PARKED for d in _deliveries(hook.id) if d.status == PENDING)
    receiver.respond = lambda got: Reply(200)
    webhooks.update_webhook(_reload(hook), enabled=True)
    db.session.commit()
    dispatcher.drain()
    sequences = [p["sequence"] for p in receiver.payloads() if p["device_id"] == "lock-a"]
    assert sequences == [1, 1, 2, 3]


def test_a_webhook_deleted_while_its_result_is_written_does_not_stop_the_others(
    app, receiver, dispatcher, make_webhook, emit, monkeypatch
):
    """The certify cleanup race: the receiver has answered, and the webhook is deleted
    between the dispatcher reading the batch and writing its results."""
    doomed, _ = make_webhook(receiver.url)
    kept, _ = make_webhook(receiver.url)
    doomed_id = doomed.id
    emit("lock.action_completed", device_id="lock-1")
    apply = deliveries._apply
    deleted = []

    def delete_doomed_from_another_connection() -> None:
        with app.app_context():
            webhooks.delete_webhook(db.session.get(Webhook, doomed_id))
            db.session.commit()
            db.session.remove()

    def apply_after_a_concurrent_delete(delivery, *args):
        if not deleted:
            deleted.append(True)
            thread = threading.Thread(target=delete_doomed_from_another_connection)
            thread.start()
            thread.join()
        return apply(delivery, *args)

    monkeypatch.setattr(deliveries, "_apply", apply_after_a_concurrent_delete)
    assert dispatcher.run_once() == 2
    assert [d.status for d in _deliveries(kept.id)] == [DELIVERED]
    assert _deliveries(doomed_id) == []
    emit("lock.action_completed", device_id="lock-1")
    assert dispatcher.drain() == 1
    assert [d.status for d in _deliveries(kept.id)] == [DELIVERED, DELIVERED]


def test_a_turn_that_fails_unexpectedly_does_not_end_the_dispatcher(app, dispatcher, monkeypatch):
    turns = []

    def failing_turn() -> int:
        turns.append(True)
        if len(turns) == 1:
            raise RuntimeError("a bug in one turn")
        stop.set()
        return 0

    stop = threading.Event()
    monkeypatch.setattr(dispatcher, "run_once", failing_turn)
    monkeypatch.setattr(stop, "wait", lambda seconds=None: stop.is_set())
    dispatcher.run_forever(stop)
    assert len(turns) == 2


def test_an_idle_dispatcher_is_woken_by_a_committed_event(app, receiver, make_webhook, emit):
    """With a notification transport (PostgreSQL here) an idle dispatcher delivers a new
    event when it is committed, not at its next look for work (a minute away here)."""
    with app.app_context():
        wakeups.start_listener()
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite alone wakes no other process: its dispatchers poll (DISPATCHER_IDLE_SECONDS)")
    make_webhook(receiver.url)
    patient = Dispatcher(app, settings=replace(FAST, idle_sleep=60.0, idle_max=60.0), sweep=lambda: None)
    stop = threading.Event()
    thread = threading.Thread(target=patient.run_forever, args=(stop,), daemon=True)
    assert _until(lambda: _hears(app))
    thread.start()
    try:
        first = emit("device.online")
        assert _until(lambda: receiver.event_ids() == [first.event_id])
        second = emit("device.offline")
        assert _until(lambda: receiver.event_ids() == [first.event_id, second.event_id])
    finally:
        stop.set()
        patient.wake()
        thread.join(10)
        patient.close()
    assert not thread.is_alive()


def _hears(app) -> bool:
    with app.app_context():
        return wakeups.hears_other_processes()


def _until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
