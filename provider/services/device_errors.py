"""The one exception device services raise; the API layers turn it into the JSON error shape."""

from __future__ import annotations

import math


class DeviceError(Exception):
    """A refusal with an HTTP status and a machine-readable error code."""

    def __init__(self, status: int, error_code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


def not_found(what: str = "Resource") -> DeviceError:
    return DeviceError(404, "NOT_FOUND", f"{what} not found.")


def device_offline() -> DeviceError:
    return DeviceError(409, "DEVICE_OFFLINE", "The lock or its bridge is not reachable.")
