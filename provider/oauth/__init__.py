"""OAuth 2.0 authorization server (issue 2)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the authorization server, its routes and pages."""
