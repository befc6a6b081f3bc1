"""Webhook registration (contract §5). Runs before the lock checks so that the events the
kit's own actions cause are delivered to its listener; certify.checks.deliveries checks them."""

from __future__ import annotations

from typing import Any

from certify.checks.common import expect_object, expect_status, fail
from certify.context import Context
from certify.registry import check

# The events the kit's own actions cause.
EVENTS = ["lock.action_completed", "access_code.created", "access_code.updated", "access_code.deleted"]


def _basic(ctx: Context) -> tuple[str, str]:
    return (ctx.settings.client_id, ctx.settings.client_secret)


def _refuse_first_for_lock(ctx: Context) -> Any:
    """The listener answers 500 to the first delivery about the lock under test, once."""

    def predicate(delivery: Any) -> bool:
        payload, lock_id = delivery.payload, ctx.values.get("lock_id")
        return lock_id is not None and isinstance(payload, dict) and payload.get("device_id") == lock_id

    return predicate


@check("webhooks.registration", needs_listener=True)
def registration(ctx: Context) -> str | None:
    """POST /webhooks (client credentials, HTTP Basic) answers webhook_id and status active."""
    listener = ctx.listener
    assert listener is not None
    url = ctx.settings.webhook_url or listener.url
    response = ctx.http.post("/webhooks", json={"url": url, "events": EVENTS}, auth=_basic(ctx))
    expect_status(response, {200, 201}, "POST /webhooks")
    body = expect_object(response, "POST /webhooks")
    webhook_id = body.get("webhook_id")
    if not isinstance(webhook_id, str) or not webhook_id:
        raise fail("POST /webhooks answered no webhook_id", response)

    def undo() -> str:
        deleted = ctx.http.request("DELETE", f"/webhooks/{webhook_id}", auth=_basic(ctx))
        if deleted.status_code in (200, 202, 204, 404):
            return f"webhook {webhook_id}: deleted"
        return f"webhook {webhook_id}: DELETE answered HTTP {deleted.status_code}; please remove {url}"

    ctx.on_cleanup("webhook", undo)
    ctx.values["webhook_id"] = webhook_id
    if body.get("status") != "active":
        raise fail(f"the new webhook's status is {body.get('status')!r}, expected 'active'", response)
    secret = body.get("secret") if isinstance(body.get("secret"), str) else None
    listener.secret = ctx.settings.webhook_secret or secret
    listener.refuse_once = _refuse_first_for_lock(ctx)
    source = "given with --webhook-secret" if ctx.settings.webhook_secret else (
        "from the registration answer" if secret else "none: signatures cannot be checked")
    return f"webhook {webhook_id} → {url}; signing secret {source}"


# A type no cloud emits: the registration that lists it must still succeed.
UNKNOWN_EVENT_TYPE = "certify.not_a_real_event"


@check("webhooks.unknown_event_types", needs_listener=True)
def unknown_event_types(ctx: Context) -> str | None:
    """A registration listing an event type the cloud does not know still succeeds (2xx)."""
    ctx.need("webhook_id", "no webhook registered: see webhooks.registration")
    listener = ctx.listener
    assert listener is not None
    # Its own path: should the cloud deliver to it after all, nothing mixes with the kit's deliveries.
    url = (ctx.settings.webhook_url or listener.url) + "?certify=unknown-event-types"
    response = ctx.http.post("/webhooks", json={"url": url, "events": [EVENTS[0], UNKNOWN_EVENT_TYPE]},
                             auth=_basic(ctx))
    body = expect_object(response, "POST /webhooks") if response.status_code in (200, 201) else {}
    webhook_id = body.get("webhook_id")
    if isinstance(webhook_id, str) and webhook_id:
        def undo() -> str:
            deleted = ctx.http.request("DELETE", f"/webhooks/{webhook_id}", auth=_basic(ctx))
            if deleted.status_code in (200, 202, 204, 404):
                return f"webhook {webhook_id} (unknown event types): deleted"
            return f"webhook {webhook_id}: DELETE answered HTTP {deleted.status_code}; please remove {url}"

        # At once: the kit's own events must reach only its one registered webhook.
        if not undo().endswith("deleted"):
            ctx.on_cleanup("webhook-unknown-types", undo)
    if response.status_code not in (200, 201):
        raise fail(
            f"a registration naming the unknown type {UNKNOWN_EVENT_TYPE!r} answered HTTP {response.status_code}: "
            "Seam lists the types it wants, and one this cloud does not emit must not make it fail", response)
    ignored = body.get("ignored_events")
    return f"accepted; the cloud reports ignored_events {ignored}" if isinstance(ignored, list) else "accepted"
