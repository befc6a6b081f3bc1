"""Operators of the console: password (argon2) plus a TOTP second factor (RFC 6238, pyotp).

Operators are a separate table from lock owners: an owner's session or OAuth
token never makes anyone an operator. Each TOTP code is accepted once (the
last accepted time step is stored), so a code seen over a shoulder cannot be
replayed within its 30 s.
"""

from __future__ import annotations

import pyotp
from sqlalchemy import select, update

from provider.clock import now
from provider.extensions import db
from provider.models import Operator
from provider.services import crypto, secret_hashing
from provider.services.accounts import AccountError, check_new_password, normalise_email

TOTP_PURPOSE = "operator.totp"
ISSUER = "Lock cloud console"


def create_operator(email: str, password: str) -> tuple[Operator, str]:
    """Registers an operator; returns it with the TOTP seed (shown once, stored encrypted)."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}")
    check_new_password(password)
    if find_by_email(email) is not None:
        raise AccountError(f"an operator already exists for {email}")
    seed = pyotp.random_base32()
    operator = Operator(
        email=email,
        password_hash=secret_hashing.hash_secret(password),
        totp_secret_enc=crypto.encrypt(seed, purpose=TOTP_PURPOSE),
        last_totp_step=0,
    )
    db.session.add(operator)
    db.session.flush()
    return operator, seed


def provisioning_uri(operator: Operator, seed: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(seed).provisioning_uri(name=operator.email, issuer_name=issuer)


def find_by_email(email: str) -> Operator | None:
    if "\x00" in email:
        return None
    return db.session.scalar(select(Operator).where(Operator.email == normalise_email(email)))


class OperatorError(AccountError):
    """A change to an operator that the rules refuse."""


def set_disabled(operator: Operator, disabled: bool, *, by: Operator | None = None) -> None:
    """Disables an operator (no sign-in; a console session ends at its next request) or enables it.

    An operator never disables itself from the console (`by`): another operator, or the CLI, can.
    """
    if disabled and by is not None and by.id == operator.id:
        raise OperatorError("you cannot disable your own account: another operator or the CLI can")
    if disabled:
        operator.disabled_at = operator.disabled_at or now()
    else:
        operator.disabled_at = None


def list_operators() -> list[Operator]:
    return list(db.session.scalars(select(Operator).order_by(Operator.email)))


def _accepted_step(seed: str, code: str) -> int | None:
    """The time step a code belongs to (now, or one step either side for clock drift)."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(seed)
    current = int(now().timestamp()) // totp.interval
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def authenticate(email: str, password: str, code: str) -> Operator | None:
    """The operator when password and a fresh TOTP code are both right; None otherwise."""
    operator = find_by_email(email)
    if not secret_hashing.verify(operator.password_hash if operator else None, password):
        return None
    assert operator is not None
    if operator.disabled_at is not None:
        return None
    step = _accepted_step(crypto.decrypt(operator.totp_secret_enc, purpose=TOTP_PURPOSE), code)
    if step is None:
        return None
    # Conditional: of two sign-ins with the same code, one wins.
    won = db.session.execute(
        update(Operator)
        .where(Operator.id == operator.id, Operator.last_totp_step < step)
        .values(last_totp_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    return operator if won else None


def current_code(operator: Operator) -> str:
    """The code an authenticator app shows right now (tests and the CLI's check)."""
    return pyotp.TOTP(crypto.decrypt(operator.totp_secret_enc, purpose=TOTP_PURPOSE)).at(now())
