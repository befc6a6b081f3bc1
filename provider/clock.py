"""The provider's one source of "now", so tests can freeze or fast-forward time.

Services call `clock.now()`; nothing in provider/ calls datetime.now() itself.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def freeze(self, at: datetime | None = None) -> datetime:
        """Stop time at `at` (default: the current time)."""
        with self._lock:
            base = at or (self._frozen or datetime.now(UTC) + self._offset)
            self._frozen = base.astimezone(UTC)
            return self._frozen

    def advance(self, seconds: float) -> datetime:
        """Move time forward: a frozen clock jumps, a running one gains an offset."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
                return self._frozen
            self._offset += timedelta(seconds=seconds)
            return datetime.now(UTC) + self._offset

    def reset(self) -> None:
        with self._lock:
            self._frozen = None
            self._offset = timedelta(0)


clock = Clock()


def now() -> datetime:
    return clock.now()


def isoformat_z(value: datetime) -> str:
    """ISO 8601 in UTC with a "Z", the one way provider/ writes a datetime into JSON."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
