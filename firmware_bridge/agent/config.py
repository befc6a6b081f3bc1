"""The agent's configuration: flags override environment variables, which override a config file.

A config file is TOML (``--config agent.toml``)::

    provider_url = "https://locks.example.com/devicecloud"
    bridge_token = "brt_..."          # or leave it out and set FIRMWARE_BRIDGE_TOKEN
    backend = "bleak"                 # "bleak" (real locks) or "virtual"
    state_dir = "/var/lib/firmware-bridge"
    idle_disconnect = 10.0

Environment variables: ``FIRMWARE_BRIDGE_<NAME>`` for every field, e.g.
``FIRMWARE_BRIDGE_PROVIDER_URL``, ``FIRMWARE_BRIDGE_TOKEN`` (the bridge token),
``FIRMWARE_BRIDGE_BACKEND``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from firmware_bridge.agent.model import AgentError

BACKENDS = ("bleak", "virtual")
ENV_PREFIX = "FIRMWARE_BRIDGE_"
#: Environment names that do not follow the FIRMWARE_BRIDGE_<FIELD> pattern.
ENV_ALIASES = {"bridge_token": "FIRMWARE_BRIDGE_TOKEN"}


TRANSPORTS = ("http", "mqtt")


class ConfigError(AgentError, ValueError):
    """The flags, environment and file do not describe a runnable agent."""


@dataclass(frozen=True)
class AgentConfig:
    provider_url: str = ""
    bridge_token: str = field(default="", repr=False)  # a secret: never printed
    backend: str = "bleak"
    state_dir: Path = Path("var/bridge")
    #: Long-poll wait asked of the provider (the bridge API caps it at 25 s).
    poll_wait: float = 20.0
    #: Heartbeat period; the provider marks a silent bridge offline after a few missed ones.
    heartbeat_interval: float = 10.0
    #: Disconnect a lock after this long without work (see docs/bridge-agent.md for the numbers).
    idle_disconnect: float = 10.0
    #: How often an idle lock is visited (status, missed events, clock) when nothing woke it.
    poll_interval: float = 60.0
    #: How often the lock list is fetched again (locks added to or removed from this bridge).
    locks_refresh: float = 60.0
    #: Full code-table reconciliation period, besides the one after every reconnect.
    reconcile_interval: float = 300.0
    #: Device clock further than this from ours is corrected (and reported as device.time_wrong).
    max_clock_drift: float = 60.0
    #: Connection attempts before a lock counts as unreachable; then backoff up to reconnect_max.
    #: (LockClient itself already retries inside each attempt, bleak-retry-connector style.)
    connect_attempts: int = 1
    reconnect_max: float = 30.0
    #: Provider-call retry backoff ceiling (seconds).
    retry_max: float = 10.0
    #: HTTP timeout for ordinary provider calls (the long-poll adds its wait to it).
    http_timeout: float = 10.0
    #: virtual backend only: open the keypad/fault control endpoint on 127.0.0.1.
    control: bool = True
    #: virtual backend only: fixed control port (0 = any free port, written to the state dir).
    control_port: int = 0
    #: How commands, results, events and heartbeats travel: "http" (long-poll) or "mqtt" (a broker).
    transport: str = "http"
    #: transport mqtt: the broker, mqtt://host:1883 (the bridge signs in with its id and token).
    mqtt_url: str = ""
    #: transport mqtt: a lost connection's first retry falls at random within this many seconds.
    reconnect_spread: float = 10.0
    #: transport mqtt: "5", or "3.1.1" for a broker without MQTT 5 (NATS's MQTT gateway).
    mqtt_protocol: str = "5"

    def __post_init__(self) -> None:
        if not self.provider_url:
            raise ConfigError("the provider URL is required (--provider-url or FIRMWARE_BRIDGE_PROVIDER_URL)")
        if not self.bridge_token:
            raise ConfigError("the bridge token is required (--token or FIRMWARE_BRIDGE_TOKEN)")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not 0 < self.poll_wait <= 25:
            raise ConfigError("poll_wait must be in (0, 25] seconds")
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}")
        if self.transport == "mqtt" and not self.mqtt_url:
            raise ConfigError("transport mqtt needs the broker (--mqtt-url or FIRMWARE_BRIDGE_MQTT_URL)")

    @property
    def api_url(self) -> str:
        return self.provider_url.rstrip("/") + "/bridge/v1"


def _convert(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(AgentConfig)}[name]
    try:
        if kind == "Path":
            return Path(raw)
        if kind == "float":
            return float(raw)
        if kind == "int":
            return int(raw)
        if kind == "bool":
            if isinstance(raw, str):
                return raw.strip().lower() in ("1", "true", "yes", "on")
            return bool(raw)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}: cannot read {raw!r} as {kind}") from err
    return str(raw)


def load_config(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> AgentConfig:
    """Merges file < environment < flags (None flags are "not given")."""
    env = os.environ if env is None else env
    known = {f.name for f in fields(AgentConfig)}
    values: dict[str, Any] = {}
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read config file {config_file}: {err}") from err
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown keys in {config_file}: {', '.join(sorted(unknown))}")
        values.update(data)
    for name in known:
        raw = env.get(ENV_ALIASES.get(name, ENV_PREFIX + name.upper()))
        if raw not in (None, ""):
            values[name] = raw
    for name, raw in (flags or {}).items():
        if raw is not None and name in known:
            values[name] = raw
    values = {name: _convert(name, raw) for name, raw in values.items()}
    try:
        return AgentConfig(**values)
    except TypeError as err:
        raise ConfigError(str(err)) from err


def replace(config: AgentConfig, **changes: Any) -> AgentConfig:
    return dataclasses.replace(config, **changes)
