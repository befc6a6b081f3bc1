"""marshmallow schemas, one module per resource; `load_json` parses a request body with one."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema

from provider.errors import ApiError


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _has_lone_surrogate(value: Any) -> bool:
    """JSON's "\\ud800" escape yields a string no UTF-8 encoder (database, log, hash) takes."""
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def reject_nul(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """url_value_preprocessor: an id holding a NUL cannot exist, so it is a 404.

    NUL in a query or form is refused app-wide (provider.request_guards); in a
    JSON body, by `load_json`.
    """
    if values and _has_nul(values):
        raise ApiError(404, "NOT_FOUND", "Not found.")


def load_json(schema: Schema, *, partial: bool | None = None) -> dict[str, Any]:
    """The JSON body loaded through `schema`: malformed JSON or a non-object is a 400, never a 500.

    `partial` None keeps the schema's own setting (e.g. a Schema(partial=True) for PATCH).
    """
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        raise ApiError(400, "INVALID_REQUEST", "The request body is nested too deeply.") from None
    if body is None:
        if request.get_data(cache=True):
            raise ApiError(400, "INVALID_REQUEST", "The request body is not valid JSON.")
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_REQUEST", "The request body must be a JSON object.")
    if _has_nul(body):
        raise ApiError(400, "INVALID_REQUEST", "NUL characters are not allowed.")
    if _has_lone_surrogate(body):
        raise ApiError(400, "INVALID_REQUEST", "The request body holds an unpaired UTF-16 surrogate (not valid Unicode text).")
    return schema.load(body, partial=partial)  # type: ignore[no-any-return]
