"""The JSON log line both sides write (LOG_FORMAT=json): one shape, so one query follows a
command from the API call that queued it (`request_id`) through the bridge agent to its result.

Standard library only, like the rest of this package.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

#: The header a caller names its request with, and the command field that carries it to the bridge.
REQUEST_ID_HEADER = "X-Request-Id"

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or "-",
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure(level: int | str, fmt: str | None, text_format: str) -> logging.Handler:
    """Root logging to stderr: JSON lines when `fmt` is "json", else `text_format`; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_contract_logs", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._contract_logs = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if (fmt or "").lower() == "json" else logging.Formatter(text_format))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler
