"""Links mailed to owners: password reset and sign-up confirmation.

Signed and time-limited (itsdangerous, keyed by the app's secret key), so no
table is needed. A reset link carries a fingerprint of the password hash it
was issued against: once the password changes, every earlier link is dead,
which makes each link single-use. A sign-up link carries the address and the
password's hash, so nothing is stored before the address is confirmed.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, URLSafeTimedSerializer

from provider.extensions import db
from provider.models import Account

RESET_SECONDS = 3600
SIGNUP_SECONDS = 24 * 3600


def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"account-link:{purpose}")


def _fingerprint(account: Account) -> str:
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:32]


def reset_token(secret_key: str, account: Account) -> str:
    return _serializer(secret_key, "reset").dumps({"a": account.id, "p": _fingerprint(account)})


def account_for_reset(secret_key: str, token: str) -> Account | None:
    """The account a live reset link is for, or None (expired, forged, or already used)."""
    try:
        data = _serializer(secret_key, "reset").loads(token, max_age=RESET_SECONDS)
    except (BadSignature, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    account = db.session.get(Account, str(data.get("a", ""))[:36])
    if account is None or account.disabled or data.get("p") != _fingerprint(account):
        return None
    return account


def signup_token(secret_key: str, email: str, password_hash: str) -> str:
    return _serializer(secret_key, "signup").dumps({"e": email, "h": password_hash})


def signup_claims(secret_key: str, token: str) -> tuple[str, str] | None:
    """(email, password hash) from a live sign-up link, or None."""
    try:
        data = _serializer(secret_key, "signup").loads(token, max_age=SIGNUP_SECONDS)
    except (BadSignature, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("e"), str) or not isinstance(data.get("h"), str):
        return None
    return data["e"], data["h"]
