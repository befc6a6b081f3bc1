from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from provider.clock import now
from provider.extensions import db
from provider.models.base import UTCDateTime


class BrowserSession(db.Model):
    """A signed-in (or about to sign in) browser: the cookie carries only a random id,
    this row keeps its digest and the session's contents (provider.sessions)."""

    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Copied out of the data on every save, so that a password change can end them all.
    account_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    # Absolute end, however active the browser is.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
