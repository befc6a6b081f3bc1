"""marshmallow schemas, one module per resource; `load_json` parses a request body with one."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema

from provider.errors import ApiError


def load_json(schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    """The JSON body loaded through `schema`: malformed JSON or a non-object is a 400, never a 500."""
    body = request.get_json(force=True, silent=True)
    if body is None:
        if request.get_data(cache=True):
            raise ApiError(400, "INVALID_REQUEST", "The request body is not valid JSON.")
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_REQUEST", "The request body must be a JSON object.")
    return schema.load(body, partial=partial)  # type: ignore[no-any-return]
