"""OAuth 2.0 storage: clients, authorization codes, tokens, login throttles.

Every secret is stored as a hash. Codes and tokens are 256-bit random values,
so a SHA-256 digest is enough to make a leaked table useless and keeps the
bearer check a single indexed lookup; client secrets may be human-chosen
(`seamsecret`), so they get argon2 like passwords. The objects implement the
interfaces Authlib's grants expect (ClientMixin, AuthorizationCodeMixin,
TokenMixin), written out here because the stock SQLAlchemy mixins store the
plaintext values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from provider.clock import now
from provider.extensions import db
from provider.models.account import Account
from provider.models.base import TimestampMixin, UTCDateTime, new_id

TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class OAuthClient(TimestampMixin, db.Model, ClientMixin):
    """A registered OAuth client (Seam is one)."""

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    client_secret_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    scope: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # Opt-in: accept the older guide's token call (code + client credentials only).
    legacy_token_mode: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # After a secret rotation the old secret keeps working until this moment (then it is dropped).
    previous_secret_hash: Mapped[str | None] = mapped_column(String(255))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id}>"

    # Authlib ClientMixin -------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # No default: the redirect URI must always be named and match exactly.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant: the client's own when none is asked, None if any is not allowed."""
        allowed = scope_to_list(self.scope) or []
        if not scope:
            return list_to_scope(allowed)
        requested = scope_to_list(scope)
        if any(s not in allowed for s in requested):
            return None
        return list_to_scope(requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        from provider.services.oauth_clients import verify_secret

        return verify_secret(self, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in TOKEN_ENDPOINT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class OAuthAuthorizationCode(db.Model, AuthorizationCodeMixin):
    """A code handed to the client's redirect URI; claimed once at the token endpoint."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_pk: Mapped[str] = mapped_column(
        String(36), ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set by the one token request that wins the conditional UPDATE.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OAuthClient] = relationship(lazy="joined")

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_auth_time(self) -> int:
        return int(self.created_at.timestamp())


class OAuthToken(db.Model, TokenMixin):
    """One access token, and for the row a code exchange created, the refresh token.

    Refreshing adds a row with a new access token and leaves every other row
    alone: earlier access tokens and the refresh token keep working. `grant_id`
    ties together all rows descending from one authorization (the code's id),
    so a replayed code or a revoked refresh token revokes the whole family.
    """

    __tablename__ = "oauth_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_pk: Mapped[str] = mapped_column(
        String(36), ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    grant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    token_type: Mapped[str] = mapped_column(String(20), nullable=False, default="Bearer")
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    expires_in: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    access_token_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_token_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    account: Mapped[Account] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_oauth_tokens_grant_id", "grant_id"),
        # Who authorised whom: the event feed and fan-out ask it per (client, owner).
        Index("ix_oauth_tokens_client_user", "client_pk", "user_id"),
    )

    def check_client(self, client: Any) -> bool:
        return bool(client) and self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return now() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.access_token_revoked_at is not None

    def is_refresh_token_active(self) -> bool:
        from provider.services.grants import refresh_token_usable

        return refresh_token_usable(self)


class OAuthClientToken(db.Model):
    """An access token of the client itself (RFC 6749 §4.4, client credentials): no owner.

    Kept apart from OAuthToken so that neither kind can stand in for the other: an
    owner's bearer check never finds one of these, and the client endpoints (webhooks,
    events) never read an owner's token as the client's own."""

    __tablename__ = "oauth_client_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_pk: Mapped[str] = mapped_column(
        String(36), ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False, index=True
    )
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # What the revocation endpoint (Authlib) asks of a token.
    def check_client(self, client: Any) -> bool:
        return bool(client) and self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return now() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class LoginThrottle(db.Model):
    """Failed sign-ins per key ("account:<email>" or "address:<ip>")."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
