"""Numbers read off the tables for /metrics: backlogs, lags, queue depth, connected bridges.

Each gauge is one aggregate query, so a scrape stays cheap with large tables
(every column filtered here is indexed).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select

from provider.clock import now
from provider.extensions import db
from provider.models import Bridge, Command, Event, Webhook, WebhookDelivery
from provider.models.device import OPEN_COMMAND_STATUSES
from provider.models.webhook import DISABLED, PENDING

Gauge = tuple[str, str, list[str], list[tuple[list[str], float]]]


def _age(oldest: datetime | None, at: datetime) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (at - oldest).total_seconds())


def gauges() -> Iterator[Gauge]:
    at = now()
    backlog, oldest = db.session.execute(
        select(func.count(), func.min(WebhookDelivery.pending_since)).where(WebhookDelivery.status == PENDING)
    ).one()
    yield ("provider_outbox_backlog", "Webhook deliveries waiting to be delivered.", [], [([], float(backlog))])
    yield ("provider_outbox_oldest_pending_seconds", "Age of the oldest delivery still waiting.", [],
           [([], _age(oldest, at))])
    fanned = db.session.scalar(select(func.min(Webhook.fanout_seq)).where(Webhook.status != DISABLED))
    lag = 0.0
    if fanned is not None:
        first_waiting = db.session.scalar(select(func.min(Event.created_at)).where(Event.seq > fanned))
        lag = _age(first_waiting, at)
    yield ("provider_dispatcher_lag_seconds", "Age of the oldest event not yet fanned out to every webhook.",
           [], [([], lag)])
    depth, oldest_command = db.session.execute(
        select(func.count(), func.min(Command.created_at)).where(Command.status.in_(OPEN_COMMAND_STATUSES))
    ).one()
    yield ("provider_command_queue_depth", "Commands queued or leased to a bridge.", [], [([], float(depth))])
    yield ("provider_command_queue_oldest_seconds", "Age of the oldest open command.", [],
           [([], _age(oldest_command, at))])
    transport = getattr(Bridge, "transport", None)
    if transport is not None:
        rows = db.session.execute(
            select(transport, func.count()).where(Bridge.online.is_(True)).group_by(transport)
        ).all()
        samples = [([str(kind or "http")], float(count)) for kind, count in rows]
    else:
        samples = [(["http"], float(db.session.scalar(
            select(func.count()).select_from(Bridge).where(Bridge.online.is_(True))) or 0))]
    yield ("provider_bridges_connected", "Bridges online, by transport.", ["transport"], samples or [(["http"], 0.0)])
