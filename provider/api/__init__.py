"""The Seam-facing API: one module per resource, all on one blueprint."""

from flask import Blueprint, current_app

from provider.schemas import reject_nul
from provider.services.rate_limits import RateLimiter

bp = Blueprint("api", __name__)
# NUL in an id or query would reach PostgreSQL as an error: refuse it first (every api route).
bp.url_value_preprocessor(reject_nul)


def limiter() -> RateLimiter:
    """The app's per-device rate limiter (installed by create_app)."""
    return current_app.extensions["device_rate_limiter"]  # type: ignore[no-any-return]


from provider.api import access_codes, devices, events, health, locks, webhooks  # noqa: E402,F401
