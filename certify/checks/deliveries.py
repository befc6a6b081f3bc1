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
