"""Configuration from the environment.

The sandbox works with no configuration at all: SQLite under var/, a secret
key generated once and kept in var/. Production (PROVIDER_ENV=production)
refuses to start without an explicit SECRET_KEY and DATABASE_URL.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

SANDBOX = "sandbox"
PRODUCTION = "production"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable provider."""


def _var_dir(env: dict[str, str]) -> Path:
    return Path(env.get("PROVIDER_VAR_DIR", "var")).resolve()


def _persisted_secret_key(var_dir: Path) -> str:
    """A random key made on first start and reused, so sessions survive restarts."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with 0600 so the key is never world-readable, even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _normalise_base_path(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not value.startswith("/"):
        value = "/" + value
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from err


def from_env(env: dict[str, str] | None = None) -> dict[str, object]:
    """Flask config keys derived from environment variables."""
    env = dict(os.environ if env is None else env)
    mode = env.get("PROVIDER_ENV", SANDBOX)
    if mode not in (SANDBOX, PRODUCTION):
        raise ConfigError(f"PROVIDER_ENV must be {SANDBOX!r} or {PRODUCTION!r}, got {mode!r}")
    var_dir = _var_dir(env)

    database_url = env.get("DATABASE_URL")
    secret_key = env.get("SECRET_KEY")
    if mode == PRODUCTION:
        if not secret_key:
            raise ConfigError("SECRET_KEY is required when PROVIDER_ENV=production")
        if not database_url:
            raise ConfigError("DATABASE_URL is required when PROVIDER_ENV=production")
        if env.get("PROVIDER_PROXY_HOPS", "").strip() == "":
            # The app binds 127.0.0.1, so something always stands in front. Guessing it
            # wrong either trusts forged X-Forwarded-For or gives every owner the proxy's
            # address (one guesser then slows everybody's sign-in).
            raise ConfigError(
                "PROVIDER_PROXY_HOPS is required when PROVIDER_ENV=production: the number of "
                "reverse proxies in front whose X-Forwarded-For/-Proto to trust (0: none)"
            )
    if not database_url:
        var_dir.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{var_dir / 'provider.db'}"
    if database_url.startswith("postgres://"):
        # Heroku-style URLs; SQLAlchemy only knows the long scheme.
        database_url = "postgresql://" + database_url[len("postgres://"):]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]

    base_path = _normalise_base_path(env.get("PROVIDER_BASE_PATH", ""))
    port = env.get("PORT", "8080")
    issuer = env.get("PROVIDER_ISSUER") or f"http://127.0.0.1:{port}{base_path}"

    return {
        "PROVIDER_ENV": mode,
        "PROVIDER_VAR_DIR": str(var_dir),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": secret_key or _persisted_secret_key(var_dir),
        "PROVIDER_BASE_PATH": base_path,
        "PROVIDER_ISSUER": issuer.rstrip("/"),
        "REDIS_URL": env.get("REDIS_URL") or None,
        # Per-worker caches of bearer checks and lock lists (on only where every worker hears
        # every commit: PostgreSQL, or REDIS_URL); "off" measures or debugs the uncached path.
        "PROVIDER_READ_CACHE": env.get("PROVIDER_READ_CACHE", "on").lower() != "off",
        # Reverse proxies in front of us whose X-Forwarded-* headers we trust
        # (client address for sign-in throttling, https for OAuth). 0: none.
        "PROVIDER_PROXY_HOPS": int(_float(env, "PROVIDER_PROXY_HOPS", 0)),
        # Key material for secrets at rest (device keys, PINs, webhook secrets); SECRET_KEY if unset.
        "PROVIDER_DATA_KEY": env.get("PROVIDER_DATA_KEY") or None,
        # Bodies beyond this are refused with 413 before anything parses them.
        "MAX_CONTENT_LENGTH": 64 * 1024,
        # How long the legacy /unlock waits for the lock before answering 500.
        "ACTION_WAIT_SECONDS": _float(env, "ACTION_WAIT_SECONDS", 15.0),
        # Upper bound on a bridge's long-poll; below common proxy idle timeouts (30 s).
        "BRIDGE_POLL_MAX_SECONDS": _float(env, "BRIDGE_POLL_MAX_SECONDS", 25.0),
        # A bridge silent for this long is declared offline with its locks.
        "BRIDGE_HEARTBEAT_TIMEOUT_SECONDS": _float(env, "BRIDGE_HEARTBEAT_TIMEOUT_SECONDS", 90.0),
        # Absolute lifetime of a refresh token (and so of an owner's grant to a client),
        # counted from the authorization. Long by default: Seam keeps a connection for years.
        "PROVIDER_REFRESH_TOKEN_DAYS": _float(env, "PROVIDER_REFRESH_TOKEN_DAYS", 1825.0),
        # Browser sessions (provider.sessions): ended after this long without a request,
        # and this long after sign-in however active.
        "PROVIDER_SESSION_IDLE_MINUTES": _float(env, "PROVIDER_SESSION_IDLE_MINUTES", 30.0),
        "PROVIDER_SESSION_MAX_HOURS": _float(env, "PROVIDER_SESSION_MAX_HOURS", 12.0),
        # The MQTT bridge channel (provider bridge-gateway): the gateways' broker account, the
        # topic prefix, and how bridges' broker accounts are made: "" (by hand), "mosquitto-dynsec"
        # (through MQTT_ADMIN_URL's $CONTROL API) or "command" (MQTT_PROVISIONING_COMMAND, any broker).
        "MQTT_URL": env.get("MQTT_URL") or None,
        "MQTT_TOPIC_PREFIX": env.get("MQTT_TOPIC_PREFIX") or "bridges",
        "MQTT_PROVISIONING": env.get("MQTT_PROVISIONING", ""),
        "MQTT_ADMIN_URL": env.get("MQTT_ADMIN_URL") or None,
        "MQTT_PROVISIONING_COMMAND": env.get("MQTT_PROVISIONING_COMMAND") or None,
        # Rotate every lock's device key after this many days (0: only after transfers and on request).
        "KEY_ROTATION_MAX_AGE_DAYS": _float(env, "KEY_ROTATION_MAX_AGE_DAYS", 0.0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": mode == PRODUCTION,
        "JSON_SORT_KEYS": False,
        # Branding of every page (sign-in, consent, errors, owner pages, console).
        "BRAND_NAME": env.get("BRAND_NAME") or "Halo Locks",
        "BRAND_LOGO_URL": env.get("BRAND_LOGO_URL") or None,
        "BRAND_COLOUR": _colour(env, "BRAND_COLOUR", "#1d4ed8"),
        "BRAND_SUPPORT_CONTACT": env.get("BRAND_SUPPORT_CONTACT") or "support@example.com",
        # What Seam shows as a lock's manufacturer (its `manufacturer` field); the brand by default.
        "MANUFACTURER_NAME": env.get("MANUFACTURER_NAME") or env.get("BRAND_NAME") or "Halo Locks",
        # How owner accounts come to exist: "operator" (CLI/console only) or "self" (sign-up by email).
        "ACCOUNT_SIGNUP": _choice(env, "ACCOUNT_SIGNUP", ("operator", "self"), "operator"),
        # Outgoing mail (password resets, sign-up links). Without SMTP_HOST the mail is
        # written to var/mail/ (and the sandbox shows it at /account/sandbox/mail).
        "SMTP_HOST": env.get("SMTP_HOST") or None,
        "SMTP_PORT": int(_float(env, "SMTP_PORT", 587)),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": env.get("SMTP_STARTTLS", "1") != "0",
        "MAIL_FROM": env.get("MAIL_FROM") or "no-reply@example.com",
        # /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset: /metrics is off.
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
    }


def _colour(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise ConfigError(f"{name} must be a colour like #1d4ed8, got {value!r}")
    return value


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value
