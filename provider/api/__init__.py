"""The Seam-facing API: one module per resource, all on one blueprint."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from provider.api import access_codes, events, health, locks, webhooks  # noqa: E402,F401
