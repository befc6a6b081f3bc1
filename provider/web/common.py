"""What every page shares: branding, security headers, CSRF, error pages."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, render_template, request, session
from werkzeug.exceptions import HTTPException

SESSION_CSRF = "csrf"

# Plain sentences for the statuses a person can meet; never a library's message.
ERROR_SENTENCES = {
    400: "Something in that request was not right. Go back and try again.",
    403: "You do not have access to this page.",
    404: "There is nothing at this address.",
    405: "That page cannot be used this way.",
    413: "What you sent is too large.",
    429: "Too many attempts. Wait a little and try again.",
    500: "Something went wrong on our side. Please try again in a moment.",
}


def sentence(err: Exception) -> str:
    """A rule's message as a sentence on a page: capital first letter, full stop."""
    text = getattr(err, "message", None) or str(err)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def brand() -> dict[str, Any]:
    config = current_app.config
    return {
        "name": config.get("BRAND_NAME", "Halo Locks"),
        "logo_url": config.get("BRAND_LOGO_URL"),
        "colour": config.get("BRAND_COLOUR", "#1d4ed8"),
        "support": config.get("BRAND_SUPPORT_CONTACT", "support@example.com"),
    }


def csrf_token() -> str:
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return str(token)


def csrf_ok() -> bool:
    expected = session.get(SESSION_CSRF)
    given = request.form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(str(expected), given)


def _content_security_policy() -> str:
    images = "'self' data:"
    logo = current_app.config.get("BRAND_LOGO_URL")
    if logo and "://" in logo:
        parts = urlsplit(logo)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; style-src 'self' 'nonce-{g.get('csp_nonce', 'none')}'; "
        f"img-src {images}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def error_page(status: int, message: str | None = None) -> tuple[str, int]:
    sentence = message or ERROR_SENTENCES.get(status, ERROR_SENTENCES[400 if status < 500 else 500])
    return render_template("web/error.html", message=sentence, status=status), status


def secure_pages(bp: Blueprint) -> None:
    """Nonce, headers, CSRF on every POST, and HTML error pages, for one blueprint."""

    @bp.before_request
    def _before() -> Any:
        g.csp_nonce = secrets.token_urlsafe(16)
        if request.method == "POST" and not csrf_ok():
            return error_page(400, "The form expired or did not come from this site. Go back, reload the page and try again.")
        return None

    @bp.after_request
    def _after(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _content_security_policy()
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @bp.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> tuple[str, int]:
        return error_page(err.code or 400)


def init_app(app: Flask) -> None:
    @app.context_processor
    def _branding() -> dict[str, Any]:
        return {"brand": brand(), "csrf_token": csrf_token}
