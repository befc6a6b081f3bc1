"""Webhook registration rules: URLs (and the SSRF guard), event filters, secrets, signatures.

The delivery machinery (fan-out, claims, retries) lives in provider.dispatcher;
this module holds what both the API and the dispatcher need.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from provider.clock import now
from provider.errors import InvalidRequest
from provider.extensions import db
from provider.models import Event
from provider.models.webhook import (
    ACTIVE,
    DISABLED,
    PENDING,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from provider.services import crypto
from provider.services.events import EVENT_ALIASES, WEBHOOK_EVENT_TYPES, wake_dispatchers

SECRET_PURPOSE = "webhook-secret"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks allows 24-64
DEFAULT_ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=7)
# Where a disabled webhook's pending deliveries wait (re-enabling makes them due at once).
PARKED = datetime(9999, 1, 1, tzinfo=UTC)
SANDBOX_HTTP_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class WebhookError(InvalidRequest):
    """A request the webhook rules refuse; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


# --- URLs and the SSRF guard -------------------------------------------------------------


# IPv6 prefixes that carry an IPv4 address in their low 32 bits: a URL naming one of
# these reaches the embedded IPv4 address (through a NAT64 gateway, or a host that
# routes the old IPv4-compatible form), so that address is what must be public.
_EMBEDS_IPV4 = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated, RFC 4291)
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48 (6to4)
        return ip.sixtofour
    if ip.teredo is not None:  # 2001:0::/32: the client's address, obfuscated
        return ip.teredo[1]
    for network in _EMBEDS_IPV4:
        if ip in network and int(ip) & 0xFFFFFFFF and ip != ipaddress.IPv6Address("::1"):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_address_reason(address: str) -> str | None:
    """Why production must not connect to this IP address, or None if it is a public address.

    IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo, IPv4-compatible)
    are judged by the IPv4 address they lead to; site-local IPv6 (fec0::/10) is private.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return f"{ip} is a site-local address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = forbidden_address_reason(str(embedded))
            if inner:
                return f"{ip} embeds {embedded}: {inner}"
            ip = embedded
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return f"{ip} is a private address"
    # Everything else that is not globally routable: CGNAT (Alibaba's metadata service),
    # documentation, benchmarking, reserved, multicast, unspecified.
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_host_is_public(host: str, port: int) -> None:
    """Refuses hosts that resolve (even partly) to non-public addresses. Raises WebhookError."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError) as err:
        raise WebhookError("url", f"cannot resolve {host!r}: {err}") from err
    for address in addresses:
        reason = forbidden_address_reason(address)
        if reason:
            raise WebhookError("url", f"{host!r} resolves to a forbidden target: {reason}")


def validate_url(url: str, *, production: bool) -> str:
    """The URL as stored, or WebhookError: https in production (public hosts only);
    in the sandbox also http to 127.0.0.1 / localhost."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("url", "url is required")
    url = url.strip()
    if len(url) > 2048:
        raise WebhookError("url", "url is longer than 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise WebhookError("url", f"url is not a valid URL: {err}") from err
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookError("url", "url must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise WebhookError("url", "url must not carry credentials")
    if parts.fragment:
        raise WebhookError("url", "url must not have a #fragment")
    if production:
        if parts.scheme != "https":
            raise WebhookError("url", "url must use https")
        check_host_is_public(host, port or 443)
    elif parts.scheme == "http" and host not in SANDBOX_HTTP_HOSTS:
        raise WebhookError("url", "plain http is only allowed to 127.0.0.1 or localhost; use https")
    return url


#: Longest event type name a registration may list, and how many it may list.
EVENT_TYPE_MAX_CHARS = 64
MAX_EVENT_TYPES = 100


def validate_event_types(types: Iterable[str] | None) -> list[str]:
    """The filter as stored, known types first in their canonical order.

    A type the cloud does not emit (yet) is kept, not refused: Seam may list types a
    vendor adds later, and the registration must not fail for them (they are reported
    back as `ignored_events`, and start to match if the cloud ever emits them). Kept,
    too, so that a filter naming only unknown types never widens to "every type"."""
    if types is None:
        return []
    types = list(types)
    if len(types) > MAX_EVENT_TYPES:
        raise WebhookError("events", f"at most {MAX_EVENT_TYPES} event types")
    for event_type in types:
        if not isinstance(event_type, str) or not event_type.strip() or len(event_type) > EVENT_TYPE_MAX_CHARS:
            raise WebhookError("events", f"an event type is a name of 1 to {EVENT_TYPE_MAX_CHARS} characters")
    known = sorted({t for t in types if t in WEBHOOK_EVENT_TYPES}, key=WEBHOOK_EVENT_TYPES.index)
    return known + sorted({t for t in types if t not in WEBHOOK_EVENT_TYPES})


def ignored_event_types(webhook: Webhook) -> list[str]:
    """The types in the webhook's filter that this cloud does not emit."""
    return [t for t in webhook.event_types or [] if t not in WEBHOOK_EVENT_TYPES]


def matches(webhook: Webhook, event_type: str) -> bool:
    return delivered_type(webhook, event_type) is not None


def delivered_type(webhook: Webhook, event_type: str) -> str | None:
    """The name this webhook receives an event under, or None if it does not receive it.

    One event per occurrence: a webhook subscribed to a type and to an alias of it
    (or to every type) receives the event once, under the type it was recorded as;
    one subscribed to the alias alone receives it under the alias."""
    if not webhook.event_types or event_type in webhook.event_types:
        return event_type
    for alias, recorded in EVENT_ALIASES.items():
        if recorded == event_type and alias in webhook.event_types:
            return alias
    return None


# --- Secrets and signatures --------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _encrypt(secret: str) -> str:
    return crypto.encrypt(secret, purpose=SECRET_PURPOSE)


def signing_secrets(webhook: Webhook, at: datetime | None = None) -> list[str]:
    """The current secret, then the previous one while its grace period lasts."""
    at = at or now()
    found = [crypto.decrypt(webhook.secret_encrypted, purpose=SECRET_PURPOSE)]
    if webhook.previous_secret_encrypted and webhook.previous_secret_expires_at and (
        webhook.previous_secret_expires_at > at
    ):
        found.append(crypto.decrypt(webhook.previous_secret_encrypted, purpose=SECRET_PURPOSE))
    return found


def signature_header(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`, one per secret, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    parts = []
    for secret in secrets_:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode())
    return " ".join(parts)


# --- Registration ------------------------------------------------------------------------


def _max_event_seq() -> int:
    return int(db.session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)


def create_webhook(
    url: str,
    event_types: Iterable[str] | None = None,
    *,
    client_id: str | None = None,
    production: bool = False,
) -> tuple[Webhook, str]:
    """Registers a webhook; returns it with its signing secret (shown once). Caller commits."""
    secret = new_secret()
    webhook = Webhook(
        url=validate_url(url, production=production),
        event_types=validate_event_types(event_types),
        client_id=client_id,
        status=ACTIVE,
        consecutive_failures=0,
        secret_encrypted=_encrypt(secret),
        # Deliveries start with the events recorded from now on.
        fanout_seq=_max_event_seq(),
    )
    db.session.add(webhook)
    db.session.flush()
    return webhook, secret


def update_webhook(
    webhook: Webhook,
    *,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    enabled: bool | None = None,
    production: bool = False,
) -> Webhook:
    if url is not None:
        webhook.url = validate_url(url, production=production)
    if event_types is not None:
        webhook.event_types = validate_event_types(event_types)
    if enabled is False and webhook.status != DISABLED:
        webhook.status = DISABLED
        webhook.status_reason = "disabled by its owner"
        park(webhook.id, PARKED)
    elif enabled is True and webhook.status == DISABLED:
        webhook.status = ACTIVE
        webhook.status_reason = None
        webhook.consecutive_failures = 0
        park(webhook.id, now())  # pending deliveries are due again, in order
        # Nothing is queued while disabled; pending deliveries from before resume.
        webhook.fanout_seq = max(webhook.fanout_seq, _max_event_seq())
    return webhook


def rotate_secret(webhook: Webhook, grace: timedelta = DEFAULT_ROTATION_GRACE) -> str:
    """A new secret; the old one keeps signing (second signature) until the grace period ends."""
    if grace < timedelta(0) or grace > MAX_ROTATION_GRACE:
        raise WebhookError("grace_seconds", f"grace must be between 0 and {MAX_ROTATION_GRACE}")
    secret = new_secret()
    webhook.previous_secret_encrypted = webhook.secret_encrypted if grace else None
    webhook.previous_secret_expires_at = now() + grace if grace else None
    webhook.secret_encrypted = _encrypt(secret)
    return secret


def park(webhook_id: str, until: datetime) -> None:
    """A disabled webhook's pending deliveries leave the due range until it is enabled again."""
    d = WebhookDelivery
    db.session.execute(
        update(d)
        .where(d.webhook_id == webhook_id, d.status == PENDING)
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


def delete_webhook(webhook: Webhook) -> None:
    db.session.delete(webhook)


def redeliver(webhook: Webhook, event_id: str) -> WebhookDelivery | None:
    """Queues one event again for this webhook (None: no such event, or not one its client
    may see any more). Caller commits."""
    from provider.services import grants

    event = db.session.scalar(select(Event).where(Event.event_id == event_id))
    if event is None or not grants.may_see_event(webhook.client_id, event):
        return None
    event_type = delivered_type(webhook, event.event_type) or event.event_type
    delivery = db.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.event_seq == event.seq
        )
    )
    at = now()
    if delivery is None:
        delivery = WebhookDelivery(
            webhook_id=webhook.id,
            event_seq=event.seq,
            event_id=event.event_id,
            event_type=event_type,
            device_id=event.device_id,
            attempts=0,
        )
        db.session.add(delivery)
    elif delivery.status != PENDING:
        delivery.pending_since = at
    delivery.status = PENDING
    delivery.next_attempt_at = at
    delivery.delivered_at = None
    db.session.flush()
    wake_dispatchers()
    return delivery


# --- Reading -----------------------------------------------------------------------------


def list_webhooks(client_id: str | None) -> list[Webhook]:
    return list(
        db.session.scalars(
            select(Webhook).where(Webhook.client_id == client_id).order_by(Webhook.created_at, Webhook.id)
        )
    )


def get_webhook(client_id: str | None, webhook_id: str) -> Webhook | None:
    """Another client's webhook is indistinguishable from a missing one."""
    return db.session.scalar(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.client_id == client_id)
    )


def list_deliveries(
    webhook: Webhook,
    *,
    status: str | None = None,
    event_id: str | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> tuple[list[WebhookDelivery], int | None]:
    """Newest first, each with `.attempt_log`; returns (page, seq to continue before, or None)."""
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if event_id:
        query = query.where(WebhookDelivery.event_id == event_id)
    if after_seq is not None:
        query = query.where(WebhookDelivery.event_seq < after_seq)
    page = list(db.session.scalars(query.order_by(WebhookDelivery.event_seq.desc()).limit(limit + 1)))
    more = len(page) > limit
    page = page[:limit]
    logs: dict[str, list[WebhookAttempt]] = {d.id: [] for d in page}
    if page:
        for attempt in db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(logs)))
            .order_by(WebhookAttempt.id)
        ):
            logs[attempt.delivery_id].append(attempt)
    for delivery in page:
        delivery.attempt_log = logs[delivery.id]  # type: ignore[attr-defined]
    return page, (page[-1].event_seq if more else None)
