"""Who is calling, when the caller is the OAuth client itself (Seam, server to server).

Two credentials say so: the client's own id and secret as HTTP Basic, or an access
token from the client-credentials grant (RFC 6749 §4.4, provider.oauth.server). Basic
carries every client scope; a token only the ones it was issued with. An owner's
access token is never the client's: where only the client may call (webhooks) it is
refused, where the owner has a view of their own (the event feed) it is read as that.
"""

from __future__ import annotations

from typing import Any

from flask import request

from provider.clock import now
from provider.errors import ApiError
from provider.extensions import db
from provider.models import OAuthClient
from provider.services import oauth_login
from provider.services.oauth_clients import CLIENT_SCOPES, authenticate_client
from provider.services.oauth_tokens import find_client_token

BASIC_CHALLENGE = 'Basic realm="provider"'
BEARER_CHALLENGE = 'Bearer realm="provider"'


def client_from_basic_auth() -> Any | None:
    """The OAuth client of an HTTP Basic header; None when the request has no Basic auth.

    Failures are throttled like sign-ins (provider.services.oauth_login, realm "client"):
    per (client, address) blocked, per client slowed for failing addresses only.
    """
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    address = request.remote_addr
    until = oauth_login.blocked_until(auth.username or "", address, realm="client")
    if until is not None:
        wait = max(1, int((until - now()).total_seconds()) + 1)
        raise ApiError(429, "RATE_LIMITED", f"Too many failed client authentications; retry in {wait} s.",
                       headers={"Retry-After": str(wait)})
    client = authenticate_client(auth.username, auth.password)
    if client is None:
        if auth.username:
            oauth_login.record_failure(auth.username, address, realm="client")
        raise ApiError(
            401, "UNAUTHORIZED", "Invalid client credentials.", headers={"WWW-Authenticate": BASIC_CHALLENGE}
        )
    return client


def _bearer() -> str | None:
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        return None
    return auth.token


def client_from_token(scope: str) -> Any | None:
    """The client whose client-credentials token the request carries; None when the bearer
    token (if any) is not a client token. A client token that is expired or revoked is a 401,
    one without `scope` a 403."""
    token = _bearer()
    if token is None:
        return None
    row = find_client_token(token)
    if row is None:
        return None
    if row.is_revoked() or row.is_expired():
        raise ApiError(
            401, "UNAUTHORIZED", "The access token is invalid, expired or revoked.",
            headers={"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'},
        )
    if scope not in row.scope.split():
        raise ApiError(
            403, "INSUFFICIENT_SCOPE", f"The client token lacks the {scope} scope.",
            headers={"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
        )
    client = db.session.get(OAuthClient, row.client_pk)
    if client is None:  # the row goes with its client (ON DELETE CASCADE); a race at most
        raise ApiError(401, "UNAUTHORIZED", "The client is gone.", headers={"WWW-Authenticate": BEARER_CHALLENGE})
    return client


def client_credentials(scope: str) -> Any | None:
    """The calling client by either credential, or None when the request carries neither
    (no Authorization header, or an owner's bearer token)."""
    assert scope in CLIENT_SCOPES
    return client_from_basic_auth() or client_from_token(scope)


def require_client(scope: str, refusal: str) -> Any:
    """The calling client, or the error: 403 for an owner's token (`refusal` says why), 401
    without credentials."""
    client = client_credentials(scope)
    if client is not None:
        return client
    if _bearer() is not None:
        raise ApiError(403, "INSUFFICIENT_SCOPE", refusal)
    raise ApiError(
        401,
        "UNAUTHORIZED",
        "OAuth client credentials are required: HTTP Basic client_id:client_secret, or a "
        "client-credentials access token.",
        headers={"WWW-Authenticate": f"{BASIC_CHALLENGE}, {BEARER_CHALLENGE}"},
    )
