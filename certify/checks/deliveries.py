"""Webhook deliveries (contract §5): the events the kit caused arrive, signed, and a 500 is retried."""

from __future__ import annotations

from typing import Any

from certify.checks.common import parse_time
from certify.context import Context
from certify.listener import Delivery, Listener
from certify.registry import CheckFailed, CheckSkipped, check


def _listener(ctx: Context) -> Listener:
    ctx.need("webhook_id", "no webhook registered: see webhooks.registration")
    assert ctx.listener is not None
    return ctx.listener


def _matches(delivery: Delivery, event_type: str, device_id: str, data: dict[str, Any]) -> bool:
    payload = delivery.payload
    if not isinstance(payload, dict):
        return False
    if payload.get("event_type") != event_type or payload.get("device_id") != device_id:
        return False
    got = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    # Ids the contract does not require are compared only when the provider sends them.
    return all(got.get(key, value) == value for key, value in data.items())


@check("webhooks.delivery", needs_listener=True)
def delivery(ctx: Context) -> str | None:
    """The events the kit's own actions caused are delivered, each with event_type, device_id, timestamp, data."""
    listener = _listener(ctx)
    lock_id = ctx.lock_id()
    expected: list[tuple[str, dict[str, Any], str]] = ctx.values.get("expected_events", [])
    if not expected:
        raise CheckSkipped("the kit caused no event it could expect (see the action and access code checks)")

    def missing(deliveries: list[Delivery]) -> list[str]:
        return [label for event_type, data, label in expected
                if not any(_matches(d, event_type, lock_id, data) for d in deliveries)]

    deliveries = listener.wait_for(lambda ds: not missing(ds), ctx.settings.webhook_timeout)
    ours = [d for d in deliveries if isinstance(d.payload, dict) and d.payload.get("device_id") == lock_id]
    problems = []
    for d in ours:
        payload = d.payload
        if not isinstance(payload.get("event_type"), str):
            problems.append("an event without event_type")
        if parse_time(payload.get("timestamp")) is None:
            problems.append(f"{payload.get('event_type')}: timestamp {payload.get('timestamp')!r} is not ISO 8601")
        if not isinstance(payload.get("data"), dict):
            problems.append(f"{payload.get('event_type')}: data is not an object")
    absent = missing(deliveries)
    if absent:
        problems.append(f"not delivered within {ctx.settings.webhook_timeout:.0f} s: {', '.join(absent)}")
    if problems:
        raise CheckFailed("; ".join(problems), [d.describe() for d in ours[-5:]] or None)
    return f"{len(expected)} expected event(s) delivered ({len(ours)} deliveries about the lock)"


# What Seam's guide shows in each event the kit causes, at the top level in its examples and
# inside `data` in its closing section: a provider must send both readings.
EVENT_FIELDS = {
    "lock.action_completed": ("action_id", "action", "status", "performed_via"),
    "access_code.created": ("access_code_id", "code", "status"),
    "access_code.updated": ("access_code_id", "code", "status"),
    "access_code.deleted": ("access_code_id", "status"),
}
PERFORMED_VIA = ("pin_code", "mobile_app", "remote_api", "bluetooth_key", "fob_card", "manual_turn")


def _field_problems(payload: dict[str, Any], lock_id: str) -> list[str]:
    event_type = payload.get("event_type")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    problems = []
    if payload.get("lock_id") != lock_id:
        problems.append("lock_id (the guide's examples name the lock so) is missing at the top level")
    for name in EVENT_FIELDS.get(str(event_type), ()):
        if name not in payload:
            problems.append(f"{name} is missing at the top level")
        if name not in data:
            problems.append(f"{name} is missing inside data")
        elif name in payload and payload[name] != data[name]:
            problems.append(f"{name} differs between the top level and data")
    if event_type == "lock.action_completed":
        if payload.get("performed_via", data.get("performed_via")) not in PERFORMED_VIA:
            problems.append(f"performed_via {payload.get('performed_via')!r} is not one of {', '.join(PERFORMED_VIA)}")
        if payload.get("status", data.get("status")) == "failed":
            problems += [f"a failure without {n}" for n in ("error_code", "message") if n not in payload]
    return [f"{event_type}: {p}" for p in problems]


@check("webhooks.flat_event_fields", needs_listener=True)
def flat_event_fields(ctx: Context) -> str | None:
    """Each event carries the guide's fields both at the top level and inside data, and names the lock lock_id."""
    listener = _listener(ctx)
    lock_id = ctx.lock_id()
    ours = [d for d in listener.deliveries if isinstance(d.payload, dict) and d.payload.get("device_id") == lock_id
            and d.payload.get("event_type") in EVENT_FIELDS]
    if not ours:
        raise CheckSkipped("no lock.action_completed or access_code event about the lock arrived")
    problems: list[str] = []
    bad = []
    for d in ours:
        found = _field_problems(d.payload, lock_id)
        if found:
            bad.append(d)
            problems += [p for p in found if p not in problems]
    if problems:
        raise CheckFailed("; ".join(problems[:6]) + (f" (and {len(problems) - 6} more)" if len(problems) > 6 else ""),
                          [d.describe() for d in bad[:3]])
    return f"{len(ours)} event(s) readable both ways"


@check("webhooks.signature", needs_listener=True)
def signature(ctx: Context) -> str | None:
    """Every delivery carries a Standard Webhooks signature that verifies with the webhook's secret."""
    listener = _listener(ctx)
    if not listener.secret:
        raise CheckSkipped("no signing secret: the registration answer had none; pass --webhook-secret")
    deliveries = list(listener.deliveries)
    if not deliveries:
        raise CheckSkipped("no delivery arrived to verify")
    bad = []
    for d in deliveries:
        verdict = listener.verify(d.headers, d.body)
        if verdict != "valid":
            d.signature = verdict
            bad.append(d)
    if bad:
        raise CheckFailed(f"{len(bad)} of {len(deliveries)} deliveries failed verification: {bad[0].signature}",
                          [d.describe() for d in bad[:3]])
    return f"{len(deliveries)} deliveries verified with standardwebhooks"


@check("webhooks.retry", needs_listener=True)
def retry(ctx: Context) -> str | None:
    """A delivery answered with HTTP 500 comes again, unchanged (same webhook-id and payload)."""
    listener = _listener(ctx)
    refused = listener.refused
    if refused is None:
        raise CheckSkipped("no delivery about the lock arrived, so none could be refused")

    def same(d: Delivery) -> bool:
        if d is refused:
            return False
        if refused.webhook_id and d.webhook_id:
            return d.webhook_id == refused.webhook_id
        return isinstance(d.payload, dict) and d.payload.get("event_id") == (refused.payload or {}).get("event_id")

    deliveries = listener.wait_for(lambda ds: any(same(d) for d in ds), ctx.settings.retry_timeout)
    again = next((d for d in deliveries if same(d)), None)
    if again is None:
        raise CheckFailed(f"the delivery answered 500 was not retried within {ctx.settings.retry_timeout:.0f} s "
                          "(raise --retry-timeout if the first retry comes later)", [refused.describe()])
    if again.payload != refused.payload:
        raise CheckFailed("the retried delivery's payload differs from the first attempt",
                          [refused.describe(), again.describe()])
    return f"retried after {again.received_at - refused.received_at:.1f} s"
