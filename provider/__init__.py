"""The vendor cloud Seam connects to: OAuth server, lock API, bridge API, webhooks."""

from __future__ import annotations

import json
import logging
import os
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


_METADATA_PATH = "/.well-known/oauth-authorization-server"


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
        if path == _METADATA_PATH + self.prefix:
            # RFC 8414 §3.1: an issuer with a path has its metadata at the well-known
            # path with the issuer's path appended (and we keep the prefixed copy too).
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = _METADATA_PATH
            return self.wsgi_app(environ, start_response)
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
        files = [row[2] for row in cursor.execute("PRAGMA database_list").fetchall() if row[2]]
        cursor.close()
        _owner_only(files)


def _owner_only(database_files: list[str]) -> None:
    """The database (and its WAL and shared-memory files) readable by its owner only: it
    holds hashed passwords, encrypted keys, owners' locks and histories. sqlite3 creates
    them under the umask (often 0644), so they are narrowed on every connection."""
    for name in database_files:
        for path in (name, name + "-wal", name + "-shm"):
            try:
                if os.stat(path).st_mode & 0o077:
                    os.chmod(path, 0o600)
            except OSError:
                continue  # not created yet, or not ours to change


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
    from provider.services import grants, rate_limits, read_cache, wakeups

    grants.init_app(app)  # the refresh tokens' absolute lifetime
    wakeups.init_app(app)  # which Redis carries long-poll wake-ups (REDIS_URL, non-PostgreSQL databases)
    read_cache.init_app(app)
    # One per-device limiter per app (Redis when REDIS_URL is set), for every route that needs it.
    app.extensions["device_rate_limiter"] = rate_limits.limiter_for(app.config.get("REDIS_URL"))
    if app.config.get("PROVIDER_MIGRATIONS", True):
        init_migrations(app, MIGRATIONS_DIR)

    from provider import (
        metrics,
        models,  # noqa: F401  (registers the tables)
        sessions,
    )
    from provider.error_handlers import register_error_handlers
    from provider.request_guards import register_request_guards

    sessions.init_app(app)  # browser sessions kept server-side; `flask.session` as usual
    # Each producer of bridge commands registers what happens when one ends.
    from provider.services import access_codes, actions, clock_correction, key_rotation  # noqa: F401

    metrics.init_app(app)
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
    from provider import bridge_api, oauth, web
    from provider.api import bp as api_bp

    app.register_blueprint(api_bp)
    oauth.init_app(app)
    bridge_api.init_app(app)
    web.init_app(app)


def _register_security_headers(app: Flask) -> None:
    production = app.config["PROVIDER_ENV"] == config_module.PRODUCTION
    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if production:
            # Production is https only (PROVIDER_ISSUER is checked at start): browsers
            # must never try the owner's sign-in over plain http again.
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
