"""Slowing down password guessing on the sign-in page without letting anyone lock an owner out.

Three counters ("pair:<address>|<email>", "account:<email>", "address:<ip>"), each
counting failures in a window and, past an allowance, holding a "not before" time
that doubles with every further failure, up to a cap:

- **pair** (one account from one address): blocked (429) after 5 failures. This is
  the only hard block an account gets, and it binds the guesser's address alone.
- **account** (from every address together): slowed, never blocked. Past 10
  failures, addresses that have themselves failed for this account may try only
  once per interval (1 s doubling to 60 s); an address that has not failed for it
  (the owner at home) is never held back, so a distributed guesser cannot keep an
  owner from connecting.
- **address** (every account from one address): past 50 failures the address may
  no longer try again the accounts it has failed on; a correct password of an
  account it has not failed on still signs in, so the owners behind a shared
  address (a proxy, an office) are not refused because of someone else's guessing.

A successful sign-in clears the pair's and the account's counters (not the
address's: one right password must not launder a guessing address). The counters
live in the database so every worker process sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from provider.clock import now
from provider.extensions import db
from provider.models.oauth import LoginThrottle


@dataclass(frozen=True)
class Policy:
    free_failures: int
    window: timedelta
    first_block: timedelta
    max_block: timedelta


# Five wrong passwords for one account from one address, then 30 s, 60 s, ... up to 15 minutes.
PAIR_POLICY = Policy(5, timedelta(minutes=15), timedelta(seconds=30), timedelta(minutes=15))
# The account as a whole: past ten failures, failing addresses wait 1 s, 2 s, ... up to a minute.
ACCOUNT_POLICY = Policy(10, timedelta(minutes=15), timedelta(seconds=1), timedelta(minutes=1))
# An address may fail more (a proxy or an office carries many owners), but not unboundedly.
ADDRESS_POLICY = Policy(50, timedelta(minutes=15), timedelta(seconds=60), timedelta(hours=1))


def _email(email: str) -> str:
    return email.strip().lower()


# The same three counters guard client secrets (realm "client"): token and revocation
# calls, and HTTP Basic on /events and /webhooks. Seam's own calls come from a few
# addresses that never fail, so a guesser elsewhere cannot slow them.
def _keys(subject: str, address: str | None, realm: str = "account") -> list[tuple[str, Policy]]:
    """(pair, subject, address) counter keys: "pair:<address>|<email>", "account:<email>",
    "address:<ip>" for sign-in; "client-pair:", "client:", "client-address:" for secrets."""
    # A NUL (say, in HTTP Basic credentials) cannot be stored by PostgreSQL: it never
    # names a real account or client, so it counts under a visible stand-in.
    address = (address or "-").replace("\x00", "\ufffd")
    subject = subject.replace("\x00", "\ufffd")
    if realm == "account":
        pair, whole, where = "pair", "account", "address"
        subject = _email(subject)
    else:
        pair, whole, where = f"{realm}-pair", realm, f"{realm}-address"
    return [
        (f"{pair}:{address}|{subject}"[:300], PAIR_POLICY),
        (f"{whole}:{subject}"[:300], ACCOUNT_POLICY),
        (f"{where}:{address}"[:300], ADDRESS_POLICY),
    ]


def _live(row: LoginThrottle | None, policy: Policy, current: datetime) -> LoginThrottle | None:
    """The row if its window still counts (or its block still holds)."""
    if row is None:
        return None
    if current - row.window_started_at > policy.window and (
        row.blocked_until is None or row.blocked_until <= current
    ):
        return None
    return row


def blocked_until(email: str, address: str | None, realm: str = "account") -> datetime | None:
    """When this address may try this account (or client) again, or None if it may try now."""
    current = now()
    keys = _keys(email, address, realm)
    (pair_key, pair_policy), (account_key, account_policy), (address_key, address_policy) = keys
    pair = _live(db.session.get(LoginThrottle, pair_key), pair_policy, current)
    if pair is None or pair.failures == 0:
        return None  # this address has not failed for this account: never held back
    held = [pair.blocked_until]
    for key, policy in ((account_key, account_policy), (address_key, address_policy)):
        row = _live(db.session.get(LoginThrottle, key), policy, current)
        if row is not None:
            held.append(row.blocked_until)
    waits = [until for until in held if until is not None and until > current]
    return max(waits) if waits else None


def record_failure(email: str, address: str | None, realm: str = "account") -> None:
    for attempt in range(3):
        try:
            _record_failure(email, address, realm)
            db.session.commit()
            return
        except IntegrityError:
            # Another request created the same counter first; count again on top of it.
            db.session.rollback()
            if attempt == 2:
                raise


def _record_failure(email: str, address: str | None, realm: str) -> None:
    current = now()
    for key, policy in _keys(email, address, realm):
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


def record_success(email: str, address: str | None, realm: str = "account") -> None:
    """Clears the pair's and the account's counters (never the address's). Caller commits."""
    for key, _ in _keys(email, address, realm)[:2]:
        row = db.session.get(LoginThrottle, key)
        if row is not None:
            db.session.delete(row)
