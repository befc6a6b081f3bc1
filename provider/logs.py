"""Log output for the provider's processes: plain lines, or JSON lines with LOG_FORMAT=json.

Every record carries the current request id (provider.request_ids), so one
grep follows an API call through the command it queued to the bridge's result.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from provider import request_ids

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_ids.current() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Root logging for a provider process (web worker, dispatcher); idempotent."""
    level = (level or os.environ.get("LOG_LEVEL", "info")).upper()
    fmt = (fmt or os.environ.get("LOG_FORMAT", "text")).lower()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_provider", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._provider = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
