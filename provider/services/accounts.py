"""Lock owners: creation and password checks (argon2id)."""

from __future__ import annotations

from sqlalchemy import select

from provider.errors import InvalidRequest
from provider.extensions import db
from provider.models import Account
from provider.services import secret_hashing


class AccountError(InvalidRequest):
    """An account the rules refuse to create."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(email: str) -> Account | None:
    if "\x00" in email:
        return None
    return db.session.scalar(select(Account).where(Account.email == normalise_email(email)))


#: Shortest password a new account may get (NIST SP 800-63B's floor for chosen secrets).
MIN_PASSWORD_LENGTH = 8


def check_new_password(password: str) -> None:
    """The rule for passwords chosen by a person (the operator's CLI, sign-up pages)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")


def create_account(email: str, password: str) -> Account:
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}")
    if not password:
        raise AccountError("a password is required")
    if find_by_email(email) is not None:
        raise AccountError(f"an account already exists for {email}")
    account = Account(email=email, password_hash=secret_hashing.hash_secret(password))
    db.session.add(account)
    db.session.flush()
    return account


def authenticate(email: str, password: str) -> Account | None:
    account = find_by_email(email)
    if not secret_hashing.verify(account.password_hash if account else None, password):
        return None
    assert account is not None  # verify() is False without a stored hash
    if secret_hashing.needs_rehash(account.password_hash):
        account.password_hash = secret_hashing.hash_secret(password)
    return account


def ensure_account(email: str, password: str) -> Account:
    """Idempotent creation, for seeding."""
    return find_by_email(email) or create_account(email, password)


def set_password(account: Account, password: str, *, keep_session: str | None = None) -> int:
    """Changes the password and ends every browser session of the account except
    `keep_session` (the browser that made the change). Returns sessions ended. Caller commits."""
    from provider.services import browser_sessions

    if not password:
        raise AccountError("a password is required")
    account.password_hash = secret_hashing.hash_secret(password)
    return browser_sessions.end_for_account(account.id, keep=keep_session)
