"""The API bridges (gateways) call, under /bridge/v1 (issue 3).

Authentication is the bridge token (`Authorization: Bearer brg_...`), never
OAuth; every call also counts as a heartbeat of the bridge.
"""

from __future__ import annotations

from flask import Flask, Response

from provider.errors import error_response
from provider.extensions import db
from provider.services import rate_limits
from provider.services.device_errors import DeviceError


def _device_error(err: DeviceError) -> Response:
    # A refusal writes nothing (a rate-limit count in the same transaction included).
    db.session.rollback()
    return error_response(err.status, err.error_code, err.message, err.headers)


def init_app(app: Flask) -> None:
    """Registers the bridge API blueprint, and what the device services need from the app."""
    from provider.bridge_api.routes import bp

    app.register_blueprint(bp)
    # Shared by the Seam-facing lock routes: one limiter per app (Redis when REDIS_URL is set).
    app.extensions["device_rate_limiter"] = rate_limits.limiter_for(app.config.get("REDIS_URL"))
    app.register_error_handler(DeviceError, _device_error)
