"""The id of the request being served, for log lines and for the commands it queues.

A context variable, so services can read it without Flask: the web app sets
it per request (from a sane X-Request-Id, or a new one) and a queued command
keeps it, so the bridge's result, in another request, is logged with the id
of the API call that asked for it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_CURRENT: ContextVar[str | None] = ContextVar("request_id", default=None)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def current() -> str | None:
    return _CURRENT.get()


def begin(offered: str | None) -> str:
    """The id for a new request: the caller's X-Request-Id when it is sane, else a fresh one."""
    request_id = offered if offered and _SANE.match(offered) else uuid.uuid4().hex
    _CURRENT.set(request_id)
    return request_id


def end() -> None:
    _CURRENT.set(None)
