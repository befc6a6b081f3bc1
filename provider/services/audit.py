"""The audit log: every operator action, from the console or the CLI, in one append-only table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from provider.clock import now
from provider.extensions import db
from provider.models import AuditEntry


def record(actor: str, action: str, target: str | None = None, **detail: Any) -> AuditEntry:
    """Adds an entry to the caller's transaction (it commits with the action it describes).

    `detail` must never carry a secret: names, ids and counts only.
    """
    entry = AuditEntry(at=now(), actor=actor[:300], action=action, target=(target or "")[:300] or None,
                       detail=detail)
    db.session.add(entry)
    return entry


def recent(limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
    query = select(AuditEntry)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
