"""The Seam-facing API: one module per resource, all on one blueprint."""

from flask import Blueprint

from provider.schemas import reject_nul

bp = Blueprint("api", __name__)
# NUL in an id or query would reach PostgreSQL as an error: refuse it first (every api route).
bp.url_value_preprocessor(reject_nul)

from provider.api import access_codes, devices, events, health, locks, webhooks  # noqa: E402,F401
