"""The API bridges (gateways) call, under /bridge/v1 (issue 3)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the bridge API blueprint."""
