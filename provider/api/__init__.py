"""The Seam-facing API: one module per resource, all on one blueprint."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from provider.api import health  # noqa: E402,F401
from provider.api import events, webhooks  # noqa: E402,F401
