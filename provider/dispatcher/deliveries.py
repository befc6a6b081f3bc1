"""The dispatcher's database side: fan-out, claims with leases, results, pruning.

Every function runs in the current session and commits its own short transaction,
so a dispatcher killed at any point leaves only committed states behind:
- a delivery row exists for each (webhook, matching event) once fanned out;
- a claimed delivery carries a lease; if the dispatcher dies, the lease runs out
  and any dispatcher claims it again (at-least-once: the receiver may see an
  event twice, always with the same webhook-id);
- an attempt's result is written in one transaction with its log row.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from provider.dispatcher.sender import Outcome
from provider.extensions import db
from provider.models import Event
from provider.models.base import new_id
from provider.models.webhook import (
    ACTIVE,
    DELIVERED,
    DISABLED,
    EXPIRED,
    FAILING,
    PENDING,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from provider.services import grants
from provider.services.webhooks import PARKED, delivered_type, park

# Delay before retry n (1-based); the last value repeats. With jitter only ever
# lengthening a delay, and expiry only after an attempt at least RETRY_WINDOW after
# the first, every event is retried for at least three days.
BACKOFF_SECONDS = (5, 300, 1800, 7200, 18000, 36000)
JITTER = 0.2  # delays are stretched by up to +20%, so retries of many deliveries spread out
RETRY_WINDOW = timedelta(days=3)
# A webhook whose last this-many attempts all failed is marked failing (still retried).
FAILING_AFTER = 5
_LOGGER = logging.getLogger(__name__)

# A hole in the event sequence younger than this may be a transaction still in
# flight (PostgreSQL hands out seq before commit); older holes are rollbacks.
SEQ_GAP_SETTLE = timedelta(seconds=60)
FANOUT_BATCH = 1000


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def backoff(attempt: int, rng: random.Random) -> float:
    base = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
    return base * (1 + JITTER * rng.random())


# --- Fan-out -----------------------------------------------------------------------------


def fan_out(at: datetime, batch: int = FANOUT_BATCH) -> int:
    """Creates the delivery rows for events recorded since each webhook's cursor."""
    created = 0
    webhook_ids = db.session.scalars(select(Webhook.id).where(Webhook.status != DISABLED)).all()
    db.session.commit()
    for webhook_id in webhook_ids:
        created += _fan_out_one(webhook_id, at, batch)
    return created


def _fan_out_one(webhook_id: str, at: datetime, batch: int) -> int:
    query = select(Webhook).where(Webhook.id == webhook_id, Webhook.status != DISABLED)
    if _is_postgres():
        # One dispatcher fans out a given webhook at a time; the others skip it.
        query = query.with_for_update(skip_locked=True)
    webhook = db.session.scalar(query)
    if webhook is None:
        db.session.commit()
        return 0
    events = db.session.execute(
        select(Event.seq, Event.event_id, Event.event_type, Event.device_id, Event.user_id, Event.created_at)
        .where(Event.seq > webhook.fanout_seq)
        .order_by(Event.seq)
        .limit(batch)
    ).all()
    if not events:
        db.session.commit()
        return 0
    existing = set(
        db.session.scalars(
            select(WebhookDelivery.event_seq).where(
                WebhookDelivery.webhook_id == webhook.id,
                WebhookDelivery.event_seq.in_([e.seq for e in events]),
            )
        )
    )
    # A device whose earliest pending delivery waits for a retry at T: its new events
    # wait until T too, so that no claim has to step over them meanwhile.
    # The name each event is delivered under (an alias the webhook asked for, or its own).
    types = {e.seq: delivered_type(webhook, e.event_type) for e in events if e.seq not in existing}
    new = [e for e in events if types.get(e.seq) is not None]
    if webhook.client_id is not None:
        # Only the events this webhook's client may see (provider.services.grants).
        seen = grants.visible_events([(webhook.client_id, e) for e in new], at)
        new = [e for e in new if (webhook.client_id, e.seq) in seen]
    held = _held_until(webhook.id, {e.device_id for e in new if e.device_id is not None}, at)
    rows = [
        {
            "id": new_id(),
            "webhook_id": webhook.id,
            "event_seq": e.seq,
            "event_id": e.event_id,
            "event_type": types[e.seq],
            "device_id": e.device_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": held.get(e.device_id, at),
            "pending_since": at,
            "created_at": at,
            "updated_at": at,
        }
        for e in new
    ]
    if rows:
        db.session.execute(WebhookDelivery.__table__.insert(), rows)
    # Advance the cursor over the contiguous prefix (and over settled holes).
    cursor = webhook.fanout_seq
    for e in events:
        if e.seq != cursor + 1 and at - e.created_at < SEQ_GAP_SETTLE:
            break
        cursor = e.seq
    webhook.fanout_seq = cursor
    db.session.commit()
    return len(rows)


def _held_until(webhook_id: str, device_ids: set[str], at: datetime) -> dict[str, datetime]:
    """Devices with a pending delivery scheduled after `at` -> the latest such time."""
    if not device_ids:
        return {}
    d = WebhookDelivery
    return dict(
        db.session.execute(
            select(d.device_id, func.max(d.next_attempt_at))
            .where(
                d.webhook_id == webhook_id,
                d.device_id.in_(device_ids),
                d.status == PENDING,
                d.next_attempt_at > at,
            )
            .group_by(d.device_id)
        ).all()
    )


def hold_successors(delivery: WebhookDelivery, until: datetime) -> None:
    """A delivery waits for a retry: its device's later deliveries wait (at least) as long."""
    if delivery.device_id is None:
        return
    d = WebhookDelivery
    db.session.execute(
        update(d)
        .where(
            d.webhook_id == delivery.webhook_id,
            d.device_id == delivery.device_id,
            d.status == PENDING,
            d.event_seq > delivery.event_seq,
            d.next_attempt_at < until,
        )
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


# --- Claims ------------------------------------------------------------------------------


@dataclass
class Claimed:
    delivery_id: str
    attempt: int
    webhook_id: str
    url: str
    event_id: str
    body: bytes | None  # None: the event is gone (cannot happen unless pruned by hand)
    secrets: list[str]


def claim(owner: str, at: datetime, lease: timedelta, limit: int) -> list[Claimed]:
    """Leases up to `limit` due deliveries, never two of one (webhook, device) at once,
    never one while an earlier event of its device is pending for that webhook."""
    from provider.services.event_feed import event_body
    from provider.services.webhooks import signing_secrets

    d = WebhookDelivery
    earlier = aliased(WebhookDelivery)
    lease_free = or_(d.lease_expires_at.is_(None), d.lease_expires_at <= at)
    blocked = exists().where(
        earlier.webhook_id == d.webhook_id,
        earlier.device_id == d.device_id,
        earlier.status == PENDING,
        earlier.event_seq < d.event_seq,
    )
    query = (
        select(d.id, d.attempts, d.event_id, d.event_type, Webhook, Event)
        .join(Webhook, Webhook.id == d.webhook_id)
        .outerjoin(Event, Event.seq == d.event_seq)
        .where(d.status == PENDING, d.next_attempt_at <= at, lease_free, Webhook.status != DISABLED)
        .where(~blocked)
        .order_by(d.next_attempt_at, d.event_seq)
        .limit(limit)
    )
    if _is_postgres():
        query = query.with_for_update(of=d, skip_locked=True)
    candidates = db.session.execute(query).all()
    if not candidates:
        db.session.commit()
        return []
    # Compare-and-set: on SQLite (no row locks) a concurrent dispatcher may have won some.
    won = set(
        db.session.scalars(
            update(d)
            .where(d.id.in_([c.id for c in candidates]), d.status == PENDING, lease_free)
            .values(lease_owner=owner, lease_expires_at=at + lease)
            .returning(d.id)
            .execution_options(synchronize_session=False)
        )
    )
    # A grant revoked (or a share ended) after fan-out: those events are dropped, not sent.
    ours = [c for c in candidates if c.id in won]
    entitled = grants.visible_events(
        [(c.Webhook.client_id, c.Event) for c in ours if c.Webhook.client_id is not None and c.Event is not None],
        at,
    )
    dropped = [
        c.id
        for c in ours
        if c.Webhook.client_id is not None
        and c.Event is not None
        and (c.Webhook.client_id, c.Event.seq) not in entitled
    ]
    if dropped:
        db.session.execute(delete(d).where(d.id.in_(dropped)).execution_options(synchronize_session=False))
    claimed = []
    secrets_by_webhook: dict[str, list[str]] = {}
    for candidate in ours:
        if candidate.id in dropped:
            continue
        webhook, event = candidate.Webhook, candidate.Event
        if webhook.id not in secrets_by_webhook:
            secrets_by_webhook[webhook.id] = signing_secrets(webhook, at)
        claimed.append(
            Claimed(
                delivery_id=candidate.id,
                attempt=candidate.attempts + 1,
                webhook_id=webhook.id,
                url=webhook.url,
                event_id=candidate.event_id,
                body=event_body(event, candidate.event_type) if event is not None else None,
                secrets=secrets_by_webhook[webhook.id],
            )
        )
    db.session.commit()
    return claimed


def release_leases(owner: str) -> int:
    d = WebhookDelivery
    released = db.session.execute(
        update(d)
        .where(d.lease_owner == owner, d.status == PENDING)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return released or 0


# --- Results -----------------------------------------------------------------------------


#: A batch whose rows keep vanishing under it is given up after this many tries (its leases
#: run out and the deliveries that still exist are attempted again).
RECORD_TRIES = 3


def record(
    owner: str,
    results: Sequence[tuple[Claimed, Outcome, datetime]],
    at: datetime,
    rng: random.Random,
) -> None:
    """Writes a batch of attempt results (and their log rows) in one transaction.

    A delivery whose webhook is deleted while it is in flight is dropped: deleted
    before the batch is read, it is not found; deleted between the read and the
    write (its UPDATE matches no row, its log row has no delivery any more), the
    transaction is rolled back and the batch written again without it.
    """
    if not results:
        return
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            _record(owner, results, at, rng)
            return
        except (StaleDataError, IntegrityError) as err:
            db.session.rollback()
            _LOGGER.info("deliveries vanished while their results were written (%s); try %d of %d",
                         type(err).__name__, attempt, RECORD_TRIES)
    _LOGGER.warning("gave up writing %d delivery results; their leases will run out", len(results))


def _record(
    owner: str,
    results: Sequence[tuple[Claimed, Outcome, datetime]],
    at: datetime,
    rng: random.Random,
) -> None:
    with db.session.no_autoflush:
        deliveries = {
            delivery.id: delivery
            for delivery in db.session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.id.in_([c.delivery_id for c, _, _ in results]))
            )
        }
        webhooks = {
            webhook.id: webhook
            for webhook in db.session.scalars(
                select(Webhook).where(Webhook.id.in_({d.webhook_id for d in deliveries.values()}))
            )
        }
    log = []
    for claimed, outcome, attempted_at in results:
        delivery = deliveries.get(claimed.delivery_id)
        if delivery is None:
            _LOGGER.info("webhook %s was deleted: delivery of event %s dropped",
                         claimed.webhook_id, claimed.event_id)
            continue
        log.append(
            {
                "delivery_id": delivery.id,
                "attempt": claimed.attempt,
                "attempted_at": attempted_at,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error,
                "succeeded": outcome.succeeded,
                "dispatcher": owner,
            }
        )
        _apply(delivery, webhooks.get(delivery.webhook_id), owner, outcome, at, rng)
    db.session.flush()
    if log:
        db.session.execute(insert(WebhookAttempt), log)
    db.session.commit()


def _apply(
    delivery: WebhookDelivery,
    webhook: Webhook | None,
    owner: str,
    outcome: Outcome,
    at: datetime,
    rng: random.Random,
) -> None:
    ours = delivery.lease_owner == owner
    if delivery.status != PENDING:
        return
    if outcome.succeeded:
        delivery.status = DELIVERED
        delivery.delivered_at = at
    if ours:
        delivery.attempts += 1
        delivery.lease_owner = None
        delivery.lease_expires_at = None
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
    if webhook is None:
        return
    if outcome.succeeded:
        if webhook.consecutive_failures or webhook.status == FAILING:
            webhook.consecutive_failures = 0
            if webhook.status == FAILING:
                webhook.status, webhook.status_reason = ACTIVE, None
        # The webhook row is shared by every dispatcher: touch it at most once a second.
        if webhook.last_success_at is None or at - webhook.last_success_at >= timedelta(seconds=1):
            webhook.last_success_at = at
        return
    if not ours:
        return  # another dispatcher owns the retry schedule now
    webhook.consecutive_failures += 1
    webhook.last_failure_at = at
    if outcome.status_code == 410:
        webhook.status = DISABLED
        webhook.status_reason = f"disabled: the receiver answered 410 Gone for event {delivery.event_id}"
        park(webhook.id, PARKED)
        delivery.next_attempt_at = PARKED
        return
    deadline = delivery.pending_since + RETRY_WINDOW
    if at >= deadline:
        delivery.status = EXPIRED
        _mark_failing(
            webhook,
            f"event {delivery.event_id} expired after {delivery.attempts} attempts; last error: {outcome.error}",
        )
        return
    delay = outcome.retry_after if outcome.retry_after is not None else backoff(delivery.attempts, rng)
    # Never retry later than the end of the window: the last attempt lands on it.
    delivery.next_attempt_at = min(at + timedelta(seconds=delay), deadline)
    hold_successors(delivery, delivery.next_attempt_at)
    if webhook.consecutive_failures >= FAILING_AFTER:
        _mark_failing(
            webhook, f"{webhook.consecutive_failures} consecutive failed attempts; last error: {outcome.error}"
        )


def _mark_failing(webhook: Webhook, reason: str) -> None:
    if webhook.status != DISABLED:
        webhook.status = FAILING
        webhook.status_reason = reason


# --- Pruning -----------------------------------------------------------------------------


def prune(at: datetime, retention: timedelta, batch: int = 5000) -> int:
    """Deletes finished deliveries and events older than `retention`. Never an event that
    still has a pending delivery, that a webhook has not fanned out yet, or the newest
    event (SQLite would hand its seq out again)."""
    cutoff = at - retention
    d = WebhookDelivery
    old_deliveries = select(d.id).where(d.status != PENDING, d.created_at < cutoff).limit(batch)
    deleted = db.session.execute(
        delete(d).where(d.id.in_(old_deliveries.scalar_subquery())).execution_options(
            synchronize_session=False
        )
    ).rowcount or 0
    max_seq = db.session.scalar(select(func.max(Event.seq))) or 0
    fanned_out = db.session.scalar(
        select(func.min(Webhook.fanout_seq)).where(Webhook.status != DISABLED)
    )
    horizon = min(max_seq - 1, fanned_out if fanned_out is not None else max_seq)
    pending = exists().where(and_(d.event_seq == Event.seq, d.status == PENDING))
    old_events = (
        select(Event.seq)
        .where(Event.created_at < cutoff, Event.seq <= horizon, ~pending)
        .limit(batch)
    )
    deleted += db.session.execute(
        delete(Event).where(Event.seq.in_(old_events.scalar_subquery())).execution_options(
            synchronize_session=False
        )
    ).rowcount or 0
    db.session.commit()
    return deleted
