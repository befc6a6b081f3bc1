"""Machine-facing OAuth endpoints: token (RFC 6749), revocation (RFC 7009), metadata (RFC 8414)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from provider.oauth.server import authorization, server_metadata

bp = Blueprint("oauth", __name__)


@bp.post("/oauth/token")
def token() -> Response:
    return authorization.create_token_response()


@bp.post("/oauth/revoke")
def revoke() -> Response:
    return authorization.create_endpoint_response("revocation")


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    return jsonify(server_metadata())
