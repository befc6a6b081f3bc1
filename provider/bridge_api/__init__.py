"""The API bridges (gateways) call, under /bridge/v1 (CONTRACTS.md "Bridge API").

Authentication is the bridge token (`Authorization: Bearer brg_...`), never
OAuth; every call also counts as a heartbeat of the bridge.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from provider.bridge_api.routes import bp

    app.register_blueprint(bp)
