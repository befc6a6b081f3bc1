"""Small assertions shared by the checks; each raises CheckFailed with the response as evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from certify.http import describe_exchange, json_body
from certify.registry import CheckFailed


def evidence(*responses: requests.Response | None) -> list[dict[str, Any]]:
    return [describe_exchange(r) for r in responses if r is not None]


def fail(reason: str, *responses: requests.Response | None) -> CheckFailed:
    return CheckFailed(reason, evidence(*responses) or None)


def expect_status(response: requests.Response, allowed: set[int] | frozenset[int], what: str) -> None:
    if response.status_code not in allowed:
        wanted = "/".join(str(s) for s in sorted(allowed))
        raise fail(f"{what}: expected HTTP {wanted}, got {response.status_code}", response)


def expect_object(response: requests.Response, what: str) -> dict[str, Any]:
    body = json_body(response)
    if not isinstance(body, dict):
        raise fail(f"{what}: the body is not a JSON object", response)
    return body


def unwrap(body: dict[str, Any], key: str) -> dict[str, Any]:
    """Accepts both a bare object and one wrapped as {key: {...}} (the contract shows the bare one)."""
    inner = body.get(key)
    return inner if isinstance(inner, dict) and len(body) == 1 else body


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp with a zone, or None when the value is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def error_code(body: Any) -> str | None:
    """The error code in either of the contract's shapes (current `error_code`, legacy `error_id`),
    or an OAuth `error`."""
    if not isinstance(body, dict):
        return None
    for key in ("error_code", "error_id", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    nested = body.get("error")
    if isinstance(nested, dict):
        return error_code(nested)
    return None
