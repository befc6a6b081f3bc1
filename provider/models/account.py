from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from provider.extensions import db
from provider.models.base import TimestampMixin, UTCDateTime, new_id


class Account(TimestampMixin, db.Model):
    """A lock owner. `id` is the permanent `user_id` Seam sees; never derived from the email."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # Set by an operator: the account cannot sign in and its grants are revoked.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def __repr__(self) -> str:
        return f"<Account {self.id}>"
