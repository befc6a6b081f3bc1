"""Log output for the provider's processes: plain lines, or JSON lines with LOG_FORMAT=json.

Every record carries the current request id (provider.request_ids), so one
grep follows an API call through the command it queued to the bridge's result.
"""

from __future__ import annotations

import logging
import os

from bridge_contract import logs as contract_logs
from bridge_contract.logs import JsonFormatter
from provider import request_ids

__all__ = ["JsonFormatter", "RequestIdFilter", "configure"]


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_ids.current() or "-"
        return True


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Root logging for a provider process (web worker, dispatcher); idempotent."""
    handler = contract_logs.configure(
        level or os.environ.get("LOG_LEVEL", "info"), fmt or os.environ.get("LOG_FORMAT", "text"),
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
    )
    handler.addFilter(RequestIdFilter())
