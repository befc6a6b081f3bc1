"""All models, imported here so that Alembic and the app see the whole schema."""

from provider.models.account import Account
from provider.models.base import TimestampMixin, UTCDateTime, new_id
from provider.models.browser_session import BrowserSession  # noqa: F401
from provider.models.device import (  # noqa: F401
    AccessCode,
    Action,
    Bridge,
    Command,
    Lock,
    LockEventLog,
    RateLimitCounter,
)
from provider.models.event import Event
from provider.models.lifecycle import (  # noqa: F401
    SHARE_ROLES,
    BridgeSighting,
    FactoryDevice,
    KeyRotation,
    LockShare,
)
from provider.models.oauth import (  # noqa: F401
    LoginThrottle,
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthClientToken,
    OAuthToken,
)
from provider.models.ops import AuditEntry, FleetSample, Operator  # noqa: F401
from provider.models.webhook import Webhook, WebhookAttempt, WebhookDelivery  # noqa: F401

__all__ = ["Account", "Event", "TimestampMixin", "UTCDateTime", "new_id"]
