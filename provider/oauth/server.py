"""The OAuth 2.0 authorization server and the bearer-token protector, in one place.

Authlib does the protocol; this module supplies storage and the rules Seam
needs that differ from Authlib's defaults:

- refresh never revokes anything: Seam refreshes from several workflows at
  once, and every earlier unexpired access token must keep working;
- a code is claimed with a conditional UPDATE, so of two racing exchanges
  exactly one wins; a second exchange revokes everything issued from the code;
- PKCE is S256 only;
- a client may opt into the older guide's token call (no grant_type, no
  redirect_uri, maybe a JSON body): `LegacyAuthorizationCodeGrant`;
- `iss` in every authorization response (RFC 9207), metadata per RFC 8414.
"""

from __future__ import annotations

import binascii
import logging
from typing import Any

from authlib.common.security import is_secure_transport
from authlib.integrations.flask_oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector as _ResourceProtector
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, current_app, request
from flask import request as flask_request
from werkzeug.datastructures import MultiDict

from provider.config import SANDBOX, ConfigError
from provider.errors import ApiError
from provider.extensions import db
from provider.models import Account
from provider.models.oauth import TOKEN_ENDPOINT_AUTH_METHODS, OAuthClientToken, OAuthToken
from provider.services import oauth_login, oauth_tokens
from provider.services.oauth_clients import CLIENT_SCOPES, SCOPES, find_client, verify_secret

_LOGGER = logging.getLogger(__name__)
CLIENT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)


# Requests ------------------------------------------------------------------


class _Payload:
    """The request's parameters as one mutable MultiDict (query + form, or a legacy JSON body)."""

    def __init__(self, data: MultiDict[str, str]) -> None:
        self.data = data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self.data.getlist(key) for key in self.data}

    client_id = property(lambda self: self.data.get("client_id"))
    grant_type = property(lambda self: self.data.get("grant_type"))
    redirect_uri = property(lambda self: self.data.get("redirect_uri"))
    scope = property(lambda self: self.data.get("scope"))
    state = property(lambda self: self.data.get("state"))

    @property
    def response_type(self) -> str | None:
        value = self.data.get("response_type")
        return " ".join(sorted(value.split())) if value and " " in value else value


def _legacy_json_body() -> MultiDict[str, str] | None:
    """The older guide may POST its token call as JSON; only that call (no grant_type) is read so."""
    if request.method != "POST" or not request.is_json:
        return None
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested too deeply to be any token call
        return None
    if not isinstance(body, dict) or "grant_type" in body:
        return None
    return MultiDict({k: v for k, v in body.items() if isinstance(v, str)})


class _OAuth2Request(OAuth2Request):
    def __init__(self) -> None:
        # Authlib refuses plain http (loopback aside). Judge by the public URL
        # we are configured with, not by what a TLS-terminating proxy forwarded;
        # production insists on an https issuer at startup (config_oauth), the
        # sandbox may be reached over plain http on a LAN.
        public = current_app.config["PROVIDER_ISSUER"] + request.full_path.rstrip("?")
        if current_app.config["PROVIDER_ENV"] == SANDBOX and public.startswith("http://"):
            public = "https://" + public[len("http://"):]
        super().__init__(request.method, public, headers=request.headers)
        legacy = _legacy_json_body()
        self._form = legacy if legacy is not None else MultiDict(request.form)
        data = MultiDict(request.args)
        for key, values in self._form.lists():
            data.setlist(key, data.getlist(key) + values)
        self.payload = _Payload(data)  # type: ignore[assignment]

    @property
    def args(self) -> MultiDict[str, str]:
        return request.args

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form


# Grants --------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE, S256 only: `plain` (also the default when no method is sent) is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return oauth_tokens.generate_secret()

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        oauth_tokens.save_code(
            code,
            client=request.client,
            account=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        db.session.commit()

    def query_authorization_code(self, code: str, client: Any) -> Any:
        row = oauth_tokens.find_code(code, client)
        if row is not None and row.used_at is not None:
            self._refuse_replay(row)
        return row

    def _refuse_replay(self, row: Any) -> None:
        # RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
        revoked = oauth_tokens.revoke_grant(row.id)
        db.session.commit()
        _LOGGER.warning(
            "authorization code reused by client %s; revoked %d token(s)",
            row.client.client_id,
            revoked,
        )
        raise InvalidGrantError("The authorization code has already been used.")

    def create_token_response(self) -> Any:
        row = self.request.authorization_code
        if not oauth_tokens.claim_code(row):
            db.session.rollback()
            self._refuse_replay(row)
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Kept (marked used) so that a replay can be recognised and answered."""

    def authenticate_user(self, authorization_code: Any) -> Account | None:
        return db.session.get(Account, authorization_code.user_id)


class LegacyAuthorizationCodeGrant(AuthorizationCodeGrant):
    """The older guide's token call: `code`, `client_id`, `client_secret` and nothing else.

    Only for clients registered with legacy_token_mode; the code is still bound
    to the client, PKCE still applies, and a redirect_uri, if sent, must match.
    """

    @classmethod
    def check_token_endpoint(cls, request: Any) -> bool:
        return (
            request.method == "POST" and not request.payload.grant_type and "code" in request.form
        )

    def authenticate_token_endpoint_client(self) -> Any:
        if getattr(self, "_client", None) is None:
            self._client = super().authenticate_token_endpoint_client()
        return self._client

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.legacy_token_mode:
            raise InvalidRequestError("Missing 'grant_type' in request.")
        code = self.request.form.get("code")
        if code and not self.request.payload.redirect_uri:
            row = oauth_tokens.find_code(code, client)
            if row is not None:
                self.request.payload.data["redirect_uri"] = row.redirect_uri
        super().validate_token_request()


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Issues a new access token; revokes nothing (Seam refreshes concurrently)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = False

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        row = oauth_tokens.find_by_refresh_token(refresh_token)
        if row is not None and row.is_refresh_token_active():
            return row
        return None

    def authenticate_user(self, refresh_token: Any) -> Account | None:
        return refresh_token.account

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Nothing to revoke: earlier access tokens and the refresh token stay valid."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4: a token of the client itself, for the calls Seam makes server to server
    (webhooks, the event feed). Its scopes are CLIENT_SCOPES only (none asked: all of them);
    no refresh token; what it sees of owners is what their grants allow the client."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        asked = scope_to_list(self.request.payload.scope) or []
        if any(scope not in CLIENT_SCOPES for scope in asked):
            raise InvalidScopeError(f"A client token's scopes are {', '.join(CLIENT_SCOPES)}.")

    def create_token_response(self) -> Any:
        scope = self.request.payload.scope or list_to_scope(list(CLIENT_SCOPES))
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return oauth_tokens.find_any(token_string, token_type_hint) or oauth_tokens.find_client_token(token_string)

    def revoke_token(self, token: Any, request: Any) -> None:
        if isinstance(token, OAuthClientToken):
            oauth_tokens.revoke_client_token(token)
        elif token.refresh_token_hash == oauth_tokens.digest(request.form["token"]):
            # RFC 7009 §2.1: revoking the refresh token ends the whole grant.
            oauth_tokens.revoke_grant(token.grant_id)
        else:
            oauth_tokens.revoke_access_token(token)
        db.session.commit()


# The server ----------------------------------------------------------------


class _Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return current_app.config["PROVIDER_ISSUER"]


class _TooManyAttempts(OAuth2Error):
    """Too many failed client authentications from this address for this client (429)."""

    error = "invalid_client"
    status_code = 429

    def __init__(self, until: Any) -> None:
        from provider.clock import now

        self.retry_after = max(1, int((until - now()).total_seconds()) + 1)
        super().__init__(description=f"Too many failed client authentications; retry in {self.retry_after} s.")

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class AuthorizationServer(_AuthorizationServer):
    def create_oauth2_request(self, request: Any) -> _OAuth2Request:
        return _OAuth2Request()

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Any:
        basic = flask_request.authorization
        form = request.form
        if basic is not None and basic.type == "basic" and (
            "client_secret" in form or form.get("client_id") not in (None, basic.username)
        ):
            # RFC 6749 §2.3: one authentication method per request. Accepting either of two
            # would let a wrong Basic header ride on good form credentials (or two clients mix).
            raise InvalidRequestError("Use one client authentication method per request, not two.")
        claimed = (basic.username if basic is not None and basic.type == "basic" else None) or form.get(
            "client_id"
        )
        address = flask_request.remote_addr
        until = oauth_login.blocked_until(claimed or "", address, realm="client") if claimed else None
        if until is not None:
            raise _TooManyAttempts(until)
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except (UnicodeDecodeError, binascii.Error) as err:
            # A Basic header that is not base64 of UTF-8: a failed authentication, not a crash.
            raise InvalidClientError(status_code=401, description="Malformed credentials.") from err
        except InvalidClientError:
            if claimed:
                if find_client(claimed) is None:
                    # An unknown id costs what a wrong secret costs: ids cannot be enumerated by time.
                    verify_secret(None, form.get("client_secret") or (basic.password if basic else "") or "")
                oauth_login.record_failure(claimed, address, realm="client")
            raise
        oauth_login.record_success(claimed or client.client_id, address, realm="client")
        return client

    def create_bearer_token_generator(self, config: Any) -> Any:
        bearer = BearerTokenGenerator(
            access_token_generator=lambda **_: oauth_tokens.generate_secret(),
            refresh_token_generator=lambda **_: oauth_tokens.generate_secret(),
            expires_generator=lambda client, grant_type: oauth_tokens.ACCESS_TOKEN_SECONDS,
        )

        def generate(grant_type: str, client: Any, user: Any = None, **kwargs: Any) -> dict[str, Any]:
            if grant_type == ClientCredentialsGrant.GRANT_TYPE:
                # Its scopes are the client's own (checked by the grant), not the owner
                # scopes the client registered for, which the stock generator checks against.
                return {
                    "token_type": "Bearer",
                    "access_token": oauth_tokens.generate_secret(),
                    "expires_in": oauth_tokens.ACCESS_TOKEN_SECONDS,
                    "scope": kwargs["scope"],
                }
            token = bearer(grant_type, client, user=user, **kwargs)
            if user is not None:
                # Seam's permanent account id: Account.id, never derived from the email.
                token["user_id"] = user.id
            return token

        return generate


def _save_token(token: dict[str, Any], request: Any) -> None:
    if request.payload.grant_type == ClientCredentialsGrant.GRANT_TYPE:
        oauth_tokens.store_client_token(token, client=request.client)
        db.session.commit()
        return
    refreshed = request.refresh_token
    oauth_tokens.store_token(
        token,
        client=request.client,
        account=request.user,
        # A refresh joins the family of the code the refresh token came from.
        grant_id=refreshed.grant_id if refreshed is not None else request.authorization_code.id,
        store_refresh_token=refreshed is None,
    )
    db.session.commit()
    if refreshed is not None:
        # The refresh token stays the same; echo it so clients keep storing it.
        token["refresh_token"] = request.form["refresh_token"]


authorization = AuthorizationServer(query_client=find_client, save_token=_save_token)


def server_metadata() -> dict[str, Any]:
    """RFC 8414 authorization server metadata (with RFC 9207's iss flag)."""
    issuer = current_app.config["PROVIDER_ISSUER"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "scopes_supported": [*SCOPES, *CLIENT_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }


# Bearer protection ------------------------------------------------------------


class _BearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> oauth_tokens.BearerGrant | None:
        return oauth_tokens.find_bearer(token_string)


class _ResourceProtector(_ResourceProtector):
    """Answers in the API's JSON error shape, with WWW-Authenticate (RFC 6750 §3)."""

    def raise_error_response(self, error: OAuth2Error) -> None:
        description = error.get_error_description() or error.description or error.error
        if error.error == "insufficient_scope":
            raise ApiError(
                403,
                "INSUFFICIENT_SCOPE",
                "The access token lacks the scope this call needs.",
                headers={"WWW-Authenticate": 'Bearer realm="provider", error="insufficient_scope"'},
            )
        if error.error == "invalid_token":
            challenge = f'Bearer realm="provider", error="invalid_token", error_description="{description}"'
            message = "The access token is invalid, expired or revoked."
        else:
            challenge = 'Bearer realm="provider"'
            message = "A bearer access token is required."
        raise ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": challenge})


require_oauth = _ResourceProtector()
require_oauth.register_token_validator(_BearerTokenValidator(realm="provider"))


def current_account() -> Account:
    """The owner whose access token authorised the current request."""
    return _current_grant().account


def current_account_id() -> str:
    """The id of that owner, without loading the account (the hot paths need only the id)."""
    return _current_grant().account_id


def _current_grant() -> oauth_tokens.BearerGrant:
    token = current_token._get_current_object()  # type: ignore[attr-defined]
    if token is None:
        raise RuntimeError("current_account() outside a @require_oauth view")
    return token  # type: ignore[no-any-return]


# Wiring -------------------------------------------------------------------------


_configured = False


def config_oauth(app: Flask) -> None:
    """Binds the (module-level) server to an app; grants are registered once per process."""
    global _configured
    if app.config["PROVIDER_ENV"] != SANDBOX and not is_secure_transport(app.config["PROVIDER_ISSUER"]):
        raise ConfigError("PROVIDER_ISSUER must be the public https URL in production")
    # Authlib logs issued tokens at DEBUG ("Issue token {...}"); secrets are never logged here.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger("authlib").level))
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
    authorization.init_app(app)
    if _configured:
        return
    _configured = True
    authorization.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=False)])
    authorization.register_grant(LegacyAuthorizationCodeGrant, [S256CodeChallenge(required=False)])
    authorization.register_grant(RefreshTokenGrant)
    authorization.register_grant(ClientCredentialsGrant)
    authorization.register_endpoint(RevocationEndpoint)
    authorization.register_extension(_Issuer())
