"""All models, imported here so that Alembic and the app see the whole schema."""

from provider.models.account import Account
from provider.models.base import TimestampMixin, UTCDateTime, new_id
from provider.models.event import Event

__all__ = ["Account", "Event", "TimestampMixin", "UTCDateTime", "new_id"]
