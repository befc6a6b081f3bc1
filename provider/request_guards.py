"""Refusals that hold for every endpoint, before any route sees the request."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import BadRequest

NUL = "\x00"


def _has_nul(values: object) -> bool:
    return any(NUL in value for value in values if isinstance(value, str))  # type: ignore[attr-defined]


def register_request_guards(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_bytes() -> None:
        """No identifier, PIN or name legitimately holds a NUL, and PostgreSQL cannot store one.

        Refused here once, for path, query and form, instead of each lookup
        turning it into a database error (a 500).
        """
        if NUL in request.path or _has_nul(request.args.values()):
            raise BadRequest("The request contains a NUL character.")
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if _has_nul(request.form.values()):
                raise BadRequest("The request contains a NUL character.")
