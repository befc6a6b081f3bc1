"""The delivery loop: fan out, claim a batch, POST it in parallel, record, repeat.

Time comes from provider.clock and HTTP from an injectable requests.Session, so
tests drive days of retries in milliseconds against a real local receiver.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from flask import Flask
from sqlalchemy.exc import IntegrityError, OperationalError

from provider import metrics
from provider.clock import now
from provider.config import PRODUCTION
from provider.dispatcher import deliveries, sender
from provider.extensions import db
from provider.services import wakeups
from provider.services.events import OUTBOX_CHANNEL
from provider.services.webhooks import signature_header

_LOGGER = logging.getLogger(__name__)


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw else default


@dataclass
class Settings:
    # Per attempt, as requests applies it: to connecting and to each wait for data.
    timeout: float = 15.0
    # Longer than one attempt can take, so a live dispatcher never loses its lease.
    lease: float = 45.0
    concurrency: int = 8
    # Idle, with no notification transport (SQLite alone): how often to look for work.
    idle_sleep: float = 0.2
    # Idle, woken by committed events (PostgreSQL, Redis): the longest wait, for retries
    # falling due and the sweeper, which no notification announces.
    idle_max: float = 1.0
    retention: timedelta = timedelta(days=30)
    prune_every: float = 300.0
    sweep_every: float = 5.0  # provider.services.sweeper.SWEEP_INTERVAL_SECONDS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        timeout = _env_float(env, "WEBHOOK_TIMEOUT_SECONDS", 15.0)
        return cls(
            timeout=timeout,
            lease=_env_float(env, "WEBHOOK_LEASE_SECONDS", timeout * 2 + 15),
            concurrency=int(_env_float(env, "DISPATCHER_CONCURRENCY", 8)),
            idle_sleep=_env_float(env, "DISPATCHER_IDLE_SECONDS", 0.2),
            idle_max=_env_float(env, "DISPATCHER_IDLE_MAX_SECONDS", 1.0),
            retention=timedelta(days=_env_float(env, "EVENT_RETENTION_DAYS", 30)),
        )


@dataclass
class Dispatcher:
    app: Flask
    settings: Settings = field(default_factory=Settings)
    session: requests.Session | None = None
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}")
    rng: random.Random = field(default_factory=random.Random)
    sweep: Callable[[], Any] | None = None
    _last_prune: datetime | None = None
    _last_sweep: datetime | None = None
    _waiter: wakeups.Waiter | None = None

    def __post_init__(self) -> None:
        if self.session is None:
            self.session = sender.make_session(
                production=self.app.config.get("PROVIDER_ENV") == PRODUCTION,
                pool_size=self.settings.concurrency,
            )
        if self.sweep is None:
            self.sweep = _find_sweeper(self.app)
        self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="webhook")

    @classmethod
    def from_env(cls, app: Flask, env: dict[str, str] | None = None) -> Dispatcher:
        env = dict(os.environ if env is None else env)
        worker = cls(app, settings=Settings.from_env(env))
        if env.get("DISPATCHER_NAME"):
            worker.name = env["DISPATCHER_NAME"][:64]
        return worker

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- one turn of the loop ---------------------------------------------------------

    def run_once(self) -> int:
        """Fans out, then delivers one batch; returns the number of attempts made."""
        with self.app.app_context():
            try:
                self._housekeeping()
                try:
                    deliveries.fan_out(now())
                except IntegrityError:
                    db.session.rollback()  # another dispatcher fanned out the same rows (SQLite)
                return self._deliver_batch()
            finally:
                db.session.remove()

    def drain(self, max_turns: int = 1000) -> int:
        """Runs turns until one makes no attempt (tests: everything due is done)."""
        total = 0
        for _ in range(max_turns):
            done = self.run_once()
            if not done:
                return total
            total += done
        raise RuntimeError("dispatcher did not settle")

    def _deliver_batch(self) -> int:
        at = now()
        # Two rounds of the thread pool per batch; the lease (2 x timeout + margin) covers both.
        claimed = deliveries.claim(
            self.name, at, timedelta(seconds=self.settings.lease), 2 * self.settings.concurrency
        )
        if not claimed:
            return 0
        results = list(self._pool.map(self._attempt, claimed))
        deliveries.record(self.name, results, now(), self.rng)
        return len(results)

    def _attempt(self, claimed: deliveries.Claimed) -> tuple[deliveries.Claimed, sender.Outcome, datetime]:
        attempted_at = now()
        if claimed.body is None:
            return claimed, sender.Outcome(None, 0, "the event no longer exists", None), attempted_at
        timestamp = int(attempted_at.timestamp())
        headers = {
            "webhook-id": claimed.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                claimed.secrets, claimed.event_id, timestamp, claimed.body
            ),
        }
        assert self.session is not None
        outcome = sender.post(
            self.session, claimed.url, claimed.body, headers, timeout=self.settings.timeout, at=attempted_at
        )
        _LOGGER.info(
            "webhook %s event %s attempt %d: %s in %d ms",
            claimed.webhook_id, claimed.event_id, claimed.attempt,
            outcome.status_code or outcome.error, outcome.latency_ms,
        )
        metrics.observe_delivery(claimed.webhook_id, outcome.status_code, outcome.latency_ms, outcome.succeeded)
        return claimed, outcome, attempted_at

    def _housekeeping(self) -> None:
        at = now()
        if self._due(self._last_prune, at, self.settings.prune_every):
            self._last_prune = at
            removed = deliveries.prune(at, self.settings.retention)
            if removed:
                _LOGGER.info("pruned %d outbox rows older than %s", removed, self.settings.retention)
        if self.sweep is not None and self._due(self._last_sweep, at, self.settings.sweep_every):
            self._last_sweep = at
            try:
                self.sweep()
            except Exception:  # the sweeper must not stop deliveries
                db.session.rollback()
                _LOGGER.exception("device sweeper failed")

    def wake(self) -> None:
        """Ends an idle wait now (a stop request, a test)."""
        if self._waiter is not None:
            self._waiter.wake()

    def _idle(self, stop: threading.Event, waiter: wakeups.Waiter) -> None:
        with self.app.app_context():
            try:
                woken = wakeups.hears_other_processes()
            finally:
                db.session.remove()
        if woken:
            waiter.wait(self.settings.idle_max)
        else:
            stop.wait(self.settings.idle_sleep)

    @staticmethod
    def _due(last: datetime | None, at: datetime, every: float) -> bool:
        return last is None or (at - last).total_seconds() >= every or at < last

    # -- the process ------------------------------------------------------------------

    def release_own_leases(self) -> int:
        """A restarted dispatcher (same DISPATCHER_NAME) takes back what its dead self held,
        without waiting for the leases to run out. Names must be unique among live dispatchers."""
        with self.app.app_context():
            try:
                return deliveries.release_leases(self.name)
            finally:
                db.session.remove()

    def run_forever(self, stop: threading.Event) -> None:
        released = self.release_own_leases()
        _LOGGER.info("dispatcher %s started (%d leases of a previous run released)", self.name, released)
        with self.app.app_context():
            wakeups.start_listener()
        # Registered before the first look at the outbox: an event committed between a
        # turn that found nothing and the wait still wakes it.
        with wakeups.hub.listening(OUTBOX_CHANNEL) as waiter:
            self._waiter = waiter
            while not stop.is_set():
                try:
                    done = self.run_once()
                except OperationalError:
                    _LOGGER.exception("database error; retrying")
                    done = 0
                    stop.wait(1.0)
                except Exception:  # one bad turn must not end every owner's deliveries
                    _LOGGER.exception("dispatcher turn failed; going on")
                    done = 0
                    stop.wait(1.0)
                if not done:
                    self._idle(stop, waiter)
        self.close()
        _LOGGER.info("dispatcher %s stopped", self.name)


def _find_sweeper(app: Flask) -> Callable[[], Any]:
    """The device side's periodic sweep (silent bridges offline, expired commands failed)."""
    from provider.services import sweeper

    timeout = float(app.config.get("BRIDGE_HEARTBEAT_TIMEOUT_SECONDS", 90.0))
    max_age = float(app.config.get("KEY_ROTATION_MAX_AGE_DAYS", 0.0))
    return lambda: sweeper.sweep(heartbeat_timeout_seconds=timeout, key_max_age_days=max_age)
