"""OAuth 2.0 authorization server: token, revocation, metadata, owner-facing pages."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the authorization server, its routes and pages."""
    from provider.oauth import pages, routes
    from provider.oauth.server import config_oauth

    config_oauth(app)
    app.register_blueprint(routes.bp)
    app.register_blueprint(pages.bp)
