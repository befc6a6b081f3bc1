"""The HTTP error handlers, in one place: every error leaves in the shape of provider.errors."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from provider.errors import ApiError, error_body
from provider.extensions import db

_LOGGER = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(
    status: int, error_code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    response = jsonify(error_body(error_code, message, **extra))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _wants_html() -> bool:
    """Owner-facing pages render their own HTML errors; everything else is JSON."""
    return request.blueprint == "pages"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        # A refusal writes nothing (a rate-limit count in the same transaction included).
        db.session.rollback()
        if err.error_code == "INTERNAL_ERROR":  # our fault (a stored secret unreadable): say why in the log
            _LOGGER.error("%s %s: %s", request.method, request.path, err, exc_info=err)
        return error_response(err.status, err.error_code, err.message, err.headers, **err.extra)

    @app.errorhandler(ValidationError)
    def _validation_error(err: ValidationError) -> Response:
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        return error_response(400, "INVALID_REQUEST", "The request body is invalid.", errors=messages)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        if _wants_html():
            return err.get_response()
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        headers = {}
        if status == 405 and err.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(err.valid_methods)  # type: ignore[attr-defined]
        extra = {}
        if request.blueprint == "oauth":
            # Token and revocation clients read RFC 6749 §5.2's `error` (e.g. a request guard's 400).
            extra = {"error": "invalid_request", "error_description": err.description or code}
        return error_response(status, code, err.description or code, headers, **extra)

    @app.errorhandler(RecursionError)
    def _too_deep(err: RecursionError) -> Response:
        # A body of 10,000 "[" exhausts the JSON parser's recursion wherever it is parsed.
        extra = {"error": "invalid_request", "error_description": "nested too deeply"} if (
            request.blueprint == "oauth") else {}
        return error_response(400, "INVALID_REQUEST", "The request body is nested too deeply.", **extra)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        _LOGGER.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "INTERNAL_ERROR", "An unexpected error occurred.")
