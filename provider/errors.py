"""The provider's one error base, and the one JSON error shape it is answered in.

Services raise `ApiError` (or a subclass naming the rule that refused) and
never import Flask; `provider.error_handlers` turns it into the response, the
CLI prints its message.  Seam's older guide reads `error_id`/`error_message`,
the current one `error_code`/`message`: every error body carries both pairs,
so one shape serves both generations of client.
"""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    """A refusal with an HTTP status and a machine-readable error code.

    `extra` fields go into the error body as they are (`errors` for the fields
    at fault); `retry_after` (seconds) becomes a Retry-After header.
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after
        self.extra = extra
        self._headers = dict(headers or {})

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return dict(self._headers)
        return {**self._headers, "Retry-After": str(max(1, math.ceil(self.retry_after)))}


class InvalidRequest(ApiError):
    """Input a rule refuses (400); `field`, when known, names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None, error_code: str = "INVALID_REQUEST") -> None:
        extra = {"errors": {field: [message]}} if field else {}
        super().__init__(400, error_code, message, **extra)
        self.field = field


def not_found(what: str = "Resource") -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found.")


def device_offline() -> ApiError:
    return ApiError(409, "DEVICE_OFFLINE", "The lock or its bridge is not reachable.")


def error_body(error_code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error_code": error_code,
        "message": message,
        "error_id": error_code,
        "error_message": message,
        **extra,
    }
