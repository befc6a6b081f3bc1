"""Slowing down password guessing on the sign-in page, per account and per address.

Each key ("account:<email>", "address:<ip>") counts failures in a window;
past the allowance it is blocked for a period that doubles with every further
failure, up to a cap. A successful sign-in clears the account's counter (not
the address's: one right password must not launder a guessing address).
The counters live in the database so every worker process sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from provider import metrics
from provider.clock import now
from provider.extensions import db
from provider.models.oauth import LoginThrottle
from provider.services import accounts


@dataclass(frozen=True)
class Policy:
    free_failures: int
    window: timedelta
    first_block: timedelta
    max_block: timedelta


# Five wrong passwords for one account, then 30 s, 60 s, ... up to 15 minutes.
ACCOUNT_POLICY = Policy(5, timedelta(minutes=15), timedelta(seconds=30), timedelta(minutes=15))
# An address may try more (offices share one), but not unboundedly.
ADDRESS_POLICY = Policy(20, timedelta(minutes=15), timedelta(seconds=60), timedelta(hours=1))


def _keys(email: str, address: str | None, kind: str = "account") -> list[tuple[str, Policy]]:
    # kind keeps an operator's counter apart from an owner's with the same address.
    keys = [(f"{kind}:{email.strip().lower()}"[:300], ACCOUNT_POLICY)]
    if address:
        keys.append((f"address:{address}"[:300], ADDRESS_POLICY))
    return keys


def blocked_until(email: str, address: str | None, kind: str = "account") -> datetime | None:
    """When sign-in may be tried again, or None if it may be tried now."""
    current = now()
    latest: datetime | None = None
    for key, _ in _keys(email, address, kind):
        row = db.session.get(LoginThrottle, key)
        if row is not None and row.blocked_until is not None and row.blocked_until > current:
            latest = max(latest or row.blocked_until, row.blocked_until)
    return latest


def record_failure(email: str, address: str | None, kind: str = "account") -> None:
    for attempt in range(3):
        try:
            _record_failure(email, address, kind)
            db.session.commit()
            return
        except IntegrityError:
            # Another request created the same counter first; count again on top of it.
            db.session.rollback()
            if attempt == 2:
                raise


def _record_failure(email: str, address: str | None, kind: str) -> None:
    current = now()
    for key, policy in _keys(email, address, kind):
        row = db.session.scalar(
            select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
        )
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_started_at=current)
            db.session.add(row)
        elif current - row.window_started_at > policy.window and (
            row.blocked_until is None or row.blocked_until <= current
        ):
            row.failures = 0
            row.window_started_at = current
        row.failures += 1
        excess = row.failures - policy.free_failures
        if excess >= 0:
            block = min(policy.first_block * (2 ** min(excess, 16)), policy.max_block)
            row.blocked_until = current + block
        db.session.flush()


def record_success(email: str, kind: str = "account") -> None:
    row = db.session.get(LoginThrottle, _keys(email, None, kind)[0][0])
    if row is not None:
        db.session.delete(row)


@dataclass(frozen=True)
class SignInOutcome:
    """Account on success; otherwise the sentence to show, its status and when to retry."""

    account: Any
    error: str | None = None
    status: int = 200
    retry_after: int | None = None


def sign_in(email: str, password: str, address: str | None) -> SignInOutcome:
    """An owner's password sign-in under the throttling rules; commits the counters."""
    return throttled(email, address, "account", "Wrong email or password.",
                     lambda: accounts.authenticate(email, password) if email and password else None)


def throttled(email: str, address: str | None, kind: str, wrong: str,
              check: Callable[[], Any]) -> SignInOutcome:
    """Runs `check` (None: refused) unless this email or address is blocked; counts the outcome."""
    until = blocked_until(email, address, kind)
    if until is not None:
        wait = max(1, int((until - now()).total_seconds()) + 1)
        metrics.count_sign_in(kind, "throttled")
        return SignInOutcome(None, f"Too many failed sign-ins. Try again in {wait} seconds.", 429, wait)
    who = check()
    if who is None:
        db.session.rollback()
        record_failure(email, address, kind)
        metrics.count_sign_in(kind, "failure")
        return SignInOutcome(None, wrong, 401)
    record_success(email, kind)
    metrics.count_sign_in(kind, "success")
    db.session.commit()
    return SignInOutcome(who)
