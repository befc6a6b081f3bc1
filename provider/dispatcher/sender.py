"""The HTTP side of a delivery: one POST, timed, with the SSRF guard on the socket itself.

In production every connection resolves the host itself, refuses it if any address is
not public, and connects to the very address it checked (so a name that re-resolves
to 127.0.0.1 or 169.254.169.254 is caught at delivery time, not only at
registration, and no packet, not even a TCP SYN, reaches a forbidden address: the
answer does not tell an internal port open from closed). The peer is checked again
once connected, before any TLS handshake. Redirects are never followed, and what a
refused target would have answered is never stored.
"""

from __future__ import annotations

import email.utils
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from provider.services.webhooks import forbidden_address_reason, resolve

MAX_ERROR_LENGTH = 500
MAX_RETRY_AFTER_SECONDS = 24 * 3600


class ForbiddenTarget(OSError):
    """The webhook's host resolved to an address production must not reach."""


def _check_peer(sock: object) -> None:
    address = sock.getpeername()[0]  # type: ignore[attr-defined]
    reason = forbidden_address_reason(address)
    if reason:
        sock.close()  # type: ignore[attr-defined]
        raise ForbiddenTarget(f"refused to deliver: {reason}")


def _checked_address(host: str, port: int) -> str:
    """The first address of `host`, if every address it resolves to is public."""
    try:
        addresses = resolve(host, port)
    except OSError as err:
        raise ForbiddenTarget(f"refused to deliver: cannot resolve {host!r}") from err
    for address in addresses:
        reason = forbidden_address_reason(address)
        if reason:
            raise ForbiddenTarget(f"refused to deliver: {reason}")
    if not addresses:
        raise ForbiddenTarget(f"refused to deliver: {host!r} has no address")
    return addresses[0]


class _Pinned:
    """Connects to an address checked beforehand; TLS still verifies the URL's host name."""

    host: str
    port: int
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        self._dns_host = _checked_address(self.host.strip("[]"), self.port)
        sock = super()._new_conn()  # type: ignore[misc]
        _check_peer(sock)  # before any byte of TLS
        return sock


class _GuardedHTTPConnection(_Pinned, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def make_session(*, production: bool, pool_size: int = 16) -> requests.Session:
    session = requests.Session()
    # Proxies from the environment would connect on our behalf, around the guard.
    session.trust_env = not production
    adapter = GuardedAdapter(pool_maxsize=pool_size) if production else HTTPAdapter(pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "seam-lock-cloud-webhooks/1"
    return session


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_retry_after(value: str | None, at: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), clamped."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - at).total_seconds()
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_SECONDS)


def post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    at: datetime,
) -> Outcome:
    started = time.monotonic()
    try:
        response = session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
    except ForbiddenTarget as err:
        return Outcome(None, _ms(started), str(err), None)
    except requests.Timeout:
        return Outcome(None, _ms(started), f"timed out after {timeout:g} s", None)
    except requests.RequestException as err:
        forbidden = _find_cause(err, ForbiddenTarget)
        message = str(forbidden) if forbidden else f"{type(err).__name__}: {err}"
        return Outcome(None, _ms(started), message[:MAX_ERROR_LENGTH], None)
    try:
        status = response.status_code
        error = None
        if not 200 <= status < 300:
            # A little of the body helps the operator see why; never read much of it, and
            # never from a target production refuses (in the sandbox: an internal service's
            # answer must not become readable through the delivery log).
            snippet = b""
            if _public_target(url):
                snippet = response.raw.read(200, decode_content=True) or b""
            error = f"HTTP {status}" + (f": {snippet.decode(errors='replace')}" if snippet else "")
        return Outcome(
            status, _ms(started), error, parse_retry_after(response.headers.get("Retry-After"), at)
        )
    finally:
        response.close()


def _public_target(url: str) -> bool:
    """Would the production rules deliver to this URL's host (every address public)?"""
    parts = urlsplit(url)
    try:
        _checked_address((parts.hostname or "").strip("[]"), parts.port or 443)
    except ForbiddenTarget:
        return False
    return True


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _find_cause(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack.extend([current.__cause__, current.__context__])
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return None
