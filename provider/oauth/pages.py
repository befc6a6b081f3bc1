"""The owner-facing authorization pages: sign in, then consent (approve or deny).

One view serves GET and POST at both /authorize (older guide) and
/oauth/authorize (current guide). Every form posts back to the very URL that
showed it (same path, same query), carries a CSRF token, and a successful POST
answers 303. A request that names an unknown client or an unregistered
redirect URI gets an error page, never a redirect.
"""

from __future__ import annotations

import hashlib
import hmac
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

from provider.clock import now
from provider.extensions import db
from provider.models import Account
from provider.oauth.server import authorization
from provider.services import accounts, oauth_login
from provider.services.oauth_clients import SCOPES

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
    return _error_page(err.description or err.name, err.code or 400)


def _error_page(message: str, status: int = 400) -> tuple[str, int]:
    return render_template("oauth/error.html", message=message), status


# Session helpers -----------------------------------------------------------------


def _csrf_token() -> str:
    token = session.get(_SESSION_CSRF)
    if not token:
        token = session[_SESSION_CSRF] = secrets.token_urlsafe(32)
    return str(token)


def _csrf_ok() -> bool:
    expected = session.get(_SESSION_CSRF)
    given = request.form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(str(expected), given)


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
    message = error.get_error_description() or error.error
    return _error_page(f"This sign-in link is not valid: {message}", 400)


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
    return _decide(grant, account)


def _sign_in(grant: Any) -> Any:
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    address = request.remote_addr
    until = oauth_login.blocked_until(email, address)
    if until is not None:
        wait = max(1, int((until - now()).total_seconds()) + 1)
        return _render_login(
            grant,
            error=f"Too many failed sign-ins. Try again in {wait} seconds.",
            status=429,
            email=email,
            headers={"Retry-After": str(wait)},
        )
    account = accounts.authenticate(email, password) if email and password else None
    if account is None:
        oauth_login.record_failure(email, address)
        return _render_login(grant, error="Wrong email or password.", status=401, email=email)
    oauth_login.record_success(email, address)
    db.session.commit()
    # A new session for the signed-in owner (nothing carried over from before).
    session.clear()
    session[_SESSION_ACCOUNT] = account.id
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
