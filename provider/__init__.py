"""The vendor cloud Seam connects to: OAuth server, lock API, bridge API, webhooks."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from provider import config as config_module
from provider.errors import error_body
from provider.extensions import db, init_migrations

_LOGGER = logging.getLogger(__name__)
MIGRATIONS_DIR = __path__[0] + "/migrations"


class PrefixMiddleware:
    """Serves the app under PROVIDER_BASE_PATH; anything outside it is a 404.

    Moving the prefix into SCRIPT_NAME makes url_for() emit prefixed URLs, so
    pages, redirects and OAuth metadata all follow the base path.
    """

    def __init__(self, wsgi_app: Any, prefix: str) -> None:
        self.wsgi_app = wsgi_app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):] or "/"
            return self.wsgi_app(environ, start_response)
        body = json.dumps(error_body("NOT_FOUND", "Not under the base path.")).encode()
        start_response(
            "404 NOT FOUND",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets readers run beside the one writer; busy_timeout makes writers queue, not fail."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    overrides = dict(config or {})
    env = overrides.pop("ENV", None)
    app.config.update(config_module.from_env(env))
    app.config.update(overrides)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 10}})
    else:
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
        )

    db.init_app(app)
    from provider.services import rate_limits, read_cache, wakeups

    wakeups.init_app(app)  # which Redis carries long-poll wake-ups (REDIS_URL, non-PostgreSQL databases)
    read_cache.init_app(app)
    # One per-device limiter per app (Redis when REDIS_URL is set), for every route that needs it.
    app.extensions["device_rate_limiter"] = rate_limits.limiter_for(app.config.get("REDIS_URL"))
    if app.config.get("PROVIDER_MIGRATIONS", True):
        init_migrations(app, MIGRATIONS_DIR)

    from provider import models  # noqa: F401  (registers the tables)
    from provider.error_handlers import register_error_handlers
    from provider.request_guards import register_request_guards

    # Each producer of bridge commands registers what happens when one ends.
    from provider.services import access_codes, actions, clock_correction, key_rotation  # noqa: F401

    register_error_handlers(app)
    register_request_guards(app)
    _register_blueprints(app)
    _register_security_headers(app)

    hops = app.config.get("PROVIDER_PROXY_HOPS", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    if app.config["PROVIDER_BASE_PATH"]:
        app.wsgi_app = PrefixMiddleware(app.wsgi_app, app.config["PROVIDER_BASE_PATH"])  # type: ignore[method-assign]
    return app


def _register_blueprints(app: Flask) -> None:
    # Each surface registers itself; imported here so the factory stays the one wiring point.
    from provider import bridge_api, oauth
    from provider.api import bp as api_bp

    app.register_blueprint(api_bp)
    oauth.init_app(app)
    bridge_api.init_app(app)


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response
