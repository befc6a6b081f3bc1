"""What the checks share: the run's settings, the HTTP client, and the state they build up."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from certify.http import Http
from certify.listener import Listener
from certify.registry import CheckSkipped


@dataclass
class Settings:
    base_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    username: str
    password: str
    lock_id: str | None = None
    profile: str = "all"  # legacy | current | all
    scope: str = "locks.read locks.write"
    authorize_path: str = "/oauth/authorize"
    legacy_authorize_path: str = "/authorize"
    token_path: str = "/oauth/token"
    webhook_listen: tuple[str, int] | None = None
    webhook_url: str | None = None  # what the provider is told, when it differs (a tunnel)
    webhook_secret: str | None = None
    concurrent_refreshes: int = 5
    action_timeout: float = 30.0  # how long an action may stay pending
    webhook_timeout: float = 30.0  # how long to wait for the deliveries the kit caused
    retry_timeout: float = 60.0  # how long to wait for the redelivery after a 500
    poll_interval: float = 0.5
    # A PIN the vendor programmed at the lock itself (not through the API) before the run: the kit
    # checks that it is listed as unmanaged and survives. Never printed or stored in a report.
    unmanaged_pin: str | None = field(default=None, repr=False)
    # How far ahead the started-code check starts its code (the provider must accept that lead).
    start_lead: float = 3.0
    http_timeout: float = 30.0
    verify_tls: bool = True

    def profiles(self) -> set[str]:
        return {"legacy", "current"} if self.profile == "all" else {self.profile}


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    user_id: Any
    raw: dict[str, Any]


@dataclass
class Context:
    settings: Settings
    http: Http = field(init=False)
    listener: Listener | None = None
    # Built up by the checks, in order.
    values: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    cleanup_notes: list[str] = field(default_factory=list)
    _cleanups: list[tuple[str, Callable[[], str]]] = field(default_factory=list)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.http = Http(self.settings.base_url, self.settings.http_timeout, self.settings.verify_tls)

    # -- shared state ------------------------------------------------------------------
    def need(self, key: str, because: str | None = None) -> Any:
        """A value an earlier check produced; skips the current check when it is missing."""
        if key not in self.values:
            raise CheckSkipped(because or f"needs {key.replace('_', ' ')}, which an earlier check could not obtain")
        return self.values[key]

    def api_token(self) -> str:
        return self.need("api_token", "no access token: the OAuth checks could not obtain one")

    def lock_id(self) -> str:
        return self.need("lock_id", "no lock to test: the lock checks could not find one")

    @staticmethod
    def nonce(prefix: str = "") -> str:
        return prefix + secrets.token_urlsafe(12)

    # -- cleanup -----------------------------------------------------------------------
    def on_cleanup(self, key: str, action: Callable[[], str]) -> None:
        """Registers an undo step; `key` lets a check cancel it once it undid the thing itself."""
        self._cleanups.append((key, action))

    def cancel_cleanup(self, key: str) -> None:
        self._cleanups = [(k, a) for k, a in self._cleanups if k != key]

    def run_cleanups(self, only: str | None = None) -> list[str]:
        """Runs the undo steps (newest first); returns what was done, one line each."""
        notes = []
        remaining = []
        for key, action in reversed(self._cleanups):
            if only is not None and not key.startswith(only):
                remaining.append((key, action))
                continue
            try:
                notes.append(action())
            except Exception as err:  # cleanup reports, it never aborts the run
                notes.append(f"FAILED to undo {key}: {type(err).__name__}: {err}")
        self._cleanups = list(reversed(remaining))
        self.cleanup_notes.extend(notes)
        return notes

    def poll(self, probe: Callable[[], Any], timeout: float, interval: float | None = None) -> Any:
        """Calls probe until it returns something truthy or the time is up (returns the last value)."""
        deadline = time.monotonic() + timeout
        interval = self.settings.poll_interval if interval is None else interval
        while True:
            value = probe()
            if value or time.monotonic() >= deadline:
                return value
            self.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 3.0)
