"""The owner-facing authorization pages: sign in, then consent (approve or deny).

One view serves GET and POST at both /authorize (older guide) and
/oauth/authorize (current guide). Every form posts back to the very URL that
showed it (same path, same query), carries a CSRF token, and a successful POST
answers 303. A request that names an unknown client or an unregistered
redirect URI gets an error page, never a redirect.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
)
from werkzeug.exceptions import HTTPException

from provider.extensions import db
from provider.models import Account
from provider.oauth.server import authorization
from provider.services import oauth_login
from provider.services.oauth_clients import SCOPES
from provider.web import common as web_common

bp = Blueprint("pages", __name__)

_SESSION_ACCOUNT = "account_id"
_SESSION_CSRF = "csrf"
_SESSION_FRESH = "fresh_login"


@bp.before_request
def _nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


@bp.after_request
def _page_headers(response: Response) -> Response:
    # No third-party anything; our own inline styles only, by nonce. No
    # form-action: browsers apply it to the redirect that follows the consent
    # POST, which goes to the client's (other-origin) redirect URI.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{g.get('csp_nonce', 'none')}'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> tuple[str, int]:
    from provider.web.common import ERROR_SENTENCES

    status = err.code or 400
    return _error_page(ERROR_SENTENCES.get(status, ERROR_SENTENCES[400 if status < 500 else 500]), status)


def _error_page(message: str, status: int = 400) -> tuple[str, int]:
    return render_template("oauth/error.html", message=message), status


# Session helpers -----------------------------------------------------------------


_csrf_token = web_common.csrf_token
_csrf_ok = web_common.csrf_ok


def _session_account() -> Account | None:
    account_id = session.get(_SESSION_ACCOUNT)
    return db.session.get(Account, account_id) if account_id else None


def _request_fingerprint() -> str:
    """Identifies this authorization request, so a fresh sign-in counts for it alone."""
    items = sorted(request.args.items(multi=True))
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _must_sign_in(account: Account | None) -> bool:
    if account is None:
        return True
    prompts = (request.args.get("prompt") or "").split()
    # prompt=login: sign in again even with a live session, unless that just happened.
    return "login" in prompts and session.get(_SESSION_FRESH) != _request_fingerprint()


def _this_url() -> str:
    """The URL (base path, path and query) that showed the page; forms post back to it."""
    return request.script_root + request.full_path.rstrip("?")


# Rendering -----------------------------------------------------------------------


def _render_login(grant: Any, *, error: str | None = None, status: int = 200,
                  email: str = "", headers: dict[str, str] | None = None) -> Any:
    body = render_template(
        "oauth/login.html",
        client=grant.client,
        action=_this_url(),
        csrf_token=_csrf_token(),
        error=error,
        email=email,
    )
    return body, status, headers or {}


def _render_consent(grant: Any, account: Account) -> Any:
    scopes = (grant.request.scope or "").split()
    return render_template(
        "oauth/consent.html",
        client=grant.client,
        account=account,
        scopes=[(scope, SCOPES.get(scope, scope)) for scope in scopes],
        action=_this_url(),
        csrf_token=_csrf_token(),
    )


def _authorization_error(error: OAuth2Error) -> Any:
    if error.redirect_uri:
        # The client and its redirect URI are known good: tell the client (with iss).
        response = authorization.handle_error_response(None, error)
        response.location = add_params_to_uri(
            response.location, {"iss": current_app.config["PROVIDER_ISSUER"]}
        )
        return _after_post(response)
    return _error_page(_PLAIN_OAUTH_ERRORS.get(error.error, _PLAIN_OAUTH_ERRORS["invalid_request"]), 400)


# What a person reads instead of the library's message (which names URIs and parameters).
_PLAIN_OAUTH_ERRORS = {
    "invalid_client": "The application that sent you here is not registered with us, so it cannot connect to your locks.",
    "invalid_request": "The application that sent you here made a sign-in link we cannot accept, so we stopped here to protect your account.",
    "invalid_scope": "The application that sent you here asked for access we do not offer.",
    "unsupported_response_type": "The application that sent you here made a sign-in link we cannot accept.",
}


def _after_post(response: Response) -> Response:
    if request.method == "POST" and response.status_code == 302:
        response.status_code = 303
    return response


# The view --------------------------------------------------------------------------


@bp.route("/authorize", methods=["GET", "POST"], endpoint="authorize_legacy")
@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    if request.method == "POST" and not _csrf_ok():
        return _error_page("The form expired or did not come from this site. Go back and try again.")
    account = _session_account()
    try:
        grant = authorization.get_consent_grant(end_user=account)
    except OAuth2Error as error:
        return _authorization_error(error)
    except ValueError:
        # Authlib refuses to put some characters (", \, DEL) of a redirect_uri into its
        # own error description; such a URI is never a registered one.
        return _error_page("This sign-in link is not valid: its redirect_uri is not registered for this application.", 400)

    if request.method == "GET":
        if _must_sign_in(account):
            return _render_login(grant)
        return _render_consent(grant, account)  # type: ignore[arg-type]

    if request.form.get("step") == "login":
        return _sign_in(grant)
    if request.form.get("step") == "switch":
        # "Not you?": forget this sign-in and ask again, for the same authorization request.
        session.clear()
        return redirect(_this_url(), 303)
    return _decide(grant, account)


def _sign_in(grant: Any) -> Any:
    email = request.form.get("email", "").strip()
    outcome = oauth_login.sign_in(email, request.form.get("password", ""), request.remote_addr)
    if outcome.account is None:
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
        return _render_login(grant, error=outcome.error, status=outcome.status, email=email, headers=headers)
    # A new session for the signed-in owner (nothing carried over from before).
    session.clear()
    session[_SESSION_ACCOUNT] = outcome.account.id
    session[_SESSION_FRESH] = _request_fingerprint()
    session[_SESSION_CSRF] = secrets.token_urlsafe(32)
    return redirect(_this_url(), 303)


def _decide(grant: Any, account: Account | None) -> Any:
    if account is None or _must_sign_in(account):
        return redirect(_this_url(), 303)
    approved = request.form.get("decision") == "approve"
    session.pop(_SESSION_FRESH, None)
    response = authorization.create_authorization_response(
        grant_user=account if approved else None, grant=grant
    )
    return _after_post(response)


@bp.post("/oauth/logout")
def logout() -> Any:
    """Signs this browser out: its server-side session ends at once (provider.sessions).

    The CSRF token is required so that another site cannot sign the owner out.
    """
    if session.get(_SESSION_ACCOUNT) is not None and not _csrf_ok():
        return _error_page("This form has expired. Reload the page and try again.", 400)
    session.clear()
    return render_template("oauth/signed_out.html")
