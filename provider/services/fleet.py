"""What the operations console shows about the fleet: presence, batteries, clocks, queues, webhooks.

Read-only queries over the tables the API and bridge channel write, plus one
periodic sample (FleetSample) so the console can draw the last 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

import bridge_contract as contract
from provider.clock import now
from provider.extensions import db
from provider.models import (
    Bridge,
    Command,
    Event,
    FleetSample,
    Lock,
    OAuthClient,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from provider.models.device import OPEN_COMMAND_STATUSES
from provider.models.webhook import FAILING, PENDING

LOW_BATTERY = contract.BATTERY_LOW_PERCENT  # the level at which the lock reports battery.low
SAMPLE_EVERY = timedelta(minutes=5)
LIST_LIMIT = 200


@dataclass(frozen=True)
class BridgeRow:
    bridge: Bridge
    owner_email: str
    since: datetime | None  # when it last came online or went offline
    locks: int


@dataclass(frozen=True)
class QueueState:
    depth: int
    oldest_pending_at: datetime | None


def bridges() -> list[BridgeRow]:
    from provider.models import Account

    rows = db.session.execute(
        select(Bridge, Account.email).join(Account, Account.id == Bridge.owner_id)
        .order_by(Bridge.online, Bridge.name).limit(LIST_LIMIT)
    ).all()
    ids = [bridge.id for bridge, _ in rows]
    since = dict(db.session.execute(
        select(Event.device_id, func.max(Event.occurred_at))
        .where(Event.device_id.in_(ids), Event.event_type.in_(("bridge.online", "bridge.offline")))
        .group_by(Event.device_id)
    ).all()) if ids else {}
    counts = dict(db.session.execute(
        select(Lock.bridge_id, func.count()).where(Lock.bridge_id.in_(ids)).group_by(Lock.bridge_id)
    ).all()) if ids else {}
    return [BridgeRow(bridge, email, since.get(bridge.id) or bridge.last_seen_at, counts.get(bridge.id, 0))
            for bridge, email in rows]


def locks_needing_attention() -> dict[str, list[Lock]]:
    def _query(*where: object) -> list[Lock]:
        return list(db.session.scalars(select(Lock).where(*where).order_by(Lock.name).limit(LIST_LIMIT)))

    return {
        "offline": _query(Lock.online.is_(False)),
        "low_battery": _query(Lock.battery_level.is_not(None), Lock.battery_level <= LOW_BATTERY),
        "clock_wrong": _query(Lock.time_wrong.is_(True)),
    }


def queue_state() -> QueueState:
    depth, oldest = db.session.execute(
        select(func.count(), func.min(Command.created_at)).where(Command.status.in_(OPEN_COMMAND_STATUSES))
    ).one()
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return QueueState(int(depth), oldest)


def battery_distribution() -> list[tuple[str, int]]:
    """Locks per battery decile (0-9 %, ..., 90-100 %), then those that never reported."""
    buckets = [0] * 10
    unknown = 0
    for (level,) in db.session.execute(select(Lock.battery_level)):
        if level is None:
            unknown += 1
        else:
            buckets[min(max(level, 0) // 10, 9)] += 1
    labels = [f"{n * 10}–{n * 10 + 9}" for n in range(9)] + ["90–100"]
    return [*zip(labels, buckets, strict=True), ("?", unknown)]


def totals() -> dict[str, int]:
    bridges_online, bridges_total = db.session.execute(
        select(func.count().filter(Bridge.online.is_(True)), func.count()).select_from(Bridge)
    ).one()
    locks_online, locks_total = db.session.execute(
        select(func.count().filter(Lock.online.is_(True)), func.count()).select_from(Lock)
    ).one()
    return {"bridges_online": bridges_online, "bridges_total": bridges_total,
            "locks_online": locks_online, "locks_total": locks_total}


def sample(at: datetime | None = None) -> bool:
    """Writes this 5-minute bucket's sample once, whoever calls first (the sweeper does). Commits."""
    at = at or now()
    bucket = at - timedelta(seconds=at.timestamp() % SAMPLE_EVERY.total_seconds(),
                            microseconds=at.microsecond)
    if db.session.get(FleetSample, bucket) is not None:
        return False
    db.session.add(FleetSample(at=bucket, queue_depth=queue_state().depth, **totals()))
    prune_samples()
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another process sampled this bucket first
        return False
    return True


def samples(hours: int = 24) -> list[FleetSample]:
    since = now() - timedelta(hours=hours)
    return list(db.session.scalars(select(FleetSample).where(FleetSample.at >= since).order_by(FleetSample.at)))


def prune_samples(keep: timedelta = timedelta(days=7)) -> int:
    return db.session.execute(delete(FleetSample).where(FleetSample.at < now() - keep)).rowcount


def lock_commands(lock_id: str, limit: int = 50) -> list[Command]:
    return list(db.session.scalars(
        select(Command).where(Command.lock_id == lock_id).order_by(Command.created_at.desc()).limit(limit)
    ))


def lock_events(lock_id: str, limit: int = 50) -> list[Event]:
    return list(db.session.scalars(
        select(Event).where(Event.device_id == lock_id).order_by(Event.seq.desc()).limit(limit)
    ))


# Webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRow:
    webhook: Webhook
    client_name: str
    backlog: int
    delivered_24h: int
    failed_24h: int
    p50_ms: int | None
    p95_ms: int | None


def _percentile(values: list[int], fraction: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def webhooks(hours: int = 24) -> list[WebhookRow]:
    """Every webhook with its backlog and the last day's latency and failures; failing ones first."""
    hooks = list(db.session.scalars(select(Webhook).order_by(Webhook.status != FAILING, Webhook.created_at)))
    names = _client_names()
    backlog = dict(db.session.execute(
        select(WebhookDelivery.webhook_id, func.count()).where(WebhookDelivery.status == PENDING)
        .group_by(WebhookDelivery.webhook_id)
    ).all())
    since = now() - timedelta(hours=hours)
    attempts: dict[str, list[tuple[int, bool]]] = {}
    for webhook_id, latency, succeeded in db.session.execute(
        select(WebhookDelivery.webhook_id, WebhookAttempt.latency_ms, WebhookAttempt.succeeded)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookAttempt.attempted_at >= since)
    ):
        attempts.setdefault(webhook_id, []).append((latency, succeeded))
    rows = []
    for hook in hooks:
        seen = attempts.get(hook.id, [])
        ok = [latency for latency, succeeded in seen if succeeded]
        rows.append(WebhookRow(
            webhook=hook,
            client_name=names.get(hook.client_id, "?") if hook.client_id else "operator",
            backlog=backlog.get(hook.id, 0),
            delivered_24h=len(ok),
            failed_24h=len(seen) - len(ok),
            p50_ms=_percentile(ok, 0.5),
            p95_ms=_percentile(ok, 0.95),
        ))
    return rows


def backlog_per_client() -> list[tuple[str, int, datetime | None]]:
    """(client, pending deliveries, oldest pending since) across the client's webhooks."""
    rows = db.session.execute(
        select(Webhook.client_id, func.count(), func.min(WebhookDelivery.pending_since))
        .join(WebhookDelivery, WebhookDelivery.webhook_id == Webhook.id)
        .where(WebhookDelivery.status == PENDING)
        .group_by(Webhook.client_id)
    ).all()
    names = _client_names()
    return [(names.get(client_pk, "?") if client_pk else "operator", count, oldest)
            for client_pk, count, oldest in rows]


def _client_names() -> dict[str, str]:
    """Webhook.client_id holds the client's primary key; its name is what a person reads."""
    return dict(db.session.execute(select(OAuthClient.id, OAuthClient.name)).all())


def find_webhook(webhook_id: str) -> Webhook | None:
    return db.session.get(Webhook, webhook_id) if len(webhook_id) <= 36 else None
