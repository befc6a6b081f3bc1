"""Server-rendered pages: the owner's account pages (/account) and the operations console (/ops).

Rules stay in the services the API uses; these routes parse a form, call one
service and render. Every page is branded from configuration, works without
JavaScript, and every form carries a CSRF token.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from provider.web import account, common, ops

    common.init_app(app)
    app.register_blueprint(account.bp)
    app.register_blueprint(ops.bp)
