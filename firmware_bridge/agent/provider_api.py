"""HTTP client for the provider's bridge API (/bridge/v1, CONTRACTS.md "Bridge API").

Blocking `requests` calls run on daemon threads so that a 25 s long-poll
never holds up the event loop, nor the process exit on SIGTERM.  `call()`
makes one attempt; `deliver()` retries with capped exponential backoff and
jitter until the provider confirms (used for results and events, which must
not be lost).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from firmware_bridge.agent.model import AgentError, Command, LockInfo

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class ProviderError(AgentError):
    """A provider call failed. `retryable` is False for answers that retrying will not change."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class Unauthorized(ProviderError):
    """401/403: the bridge token is wrong or revoked."""


async def in_thread(fn: Callable[[], T]) -> T:
    """Runs a blocking call on a daemon thread and awaits its result.

    Unlike asyncio.to_thread, a daemon thread left waiting on a long-poll does
    not keep the process alive once the loop has stopped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def _settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def _run() -> None:
        try:
            result = fn()
        except BaseException as err:  # handed to the awaiting task
            try:
                loop.call_soon_threadsafe(_settle, None, err)
            except RuntimeError:  # loop closed: nobody is waiting any more
                pass
            return
        try:
            loop.call_soon_threadsafe(_settle, result, None)
        except RuntimeError:
            pass

    threading.Thread(target=_run, name="provider-call", daemon=True).start()
    return await future


class Backoff:
    """Capped exponential backoff with full jitter: 0.5, 1, 2, 4, ... up to `ceiling` seconds."""

    def __init__(self, base: float = 0.5, ceiling: float = 10.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.ceiling = ceiling
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = min(self.ceiling, self.base * (2 ** self.failures))
        self.failures += 1
        return delay / 2 + self._rng.uniform(0, delay / 2)

    def reset(self) -> None:
        self.failures = 0


class ProviderApi:
    def __init__(self, api_url: str, token: str, timeout: float = 10.0, retry_max: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retry_max = retry_max
        self._local = threading.local()
        self.closed = asyncio.Event()

    # ------------------------------------------------------------------ plumbing
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self._token}"
            session.headers["User-Agent"] = "firmware-bridge-agent/1"
            self._local.session = session
        return session

    def _request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                 timeout: float | None = None) -> Any:
        url = self.api_url + path
        try:
            response = self._session().request(method, url, json=body, params=params,
                                               timeout=timeout or self.timeout)
        except requests.RequestException as err:
            raise ProviderError(f"{method} {path}: {type(err).__name__}") from err
        if response.status_code in (401, 403):
            raise Unauthorized(f"{method} {path}: HTTP {response.status_code} (bridge token refused)",
                               response.status_code, retryable=True)
        if response.status_code >= 400:
            code = ""
            try:
                code = response.json().get("error_code", "")
            except ValueError:
                pass
            retryable = response.status_code >= 500 or response.status_code in (408, 409, 429)
            raise ProviderError(f"{method} {path}: HTTP {response.status_code} {code}".rstrip(),
                                response.status_code, retryable=retryable)
        try:
            return response.json()
        except ValueError as err:
            raise ProviderError(f"{method} {path}: answer is not JSON", response.status_code) from err

    async def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                   timeout: float | None = None) -> Any:
        return await in_thread(lambda: self._request(method, path, body, params, timeout))

    async def deliver(self, method: str, path: str, body: Any = None, what: str = "") -> Any:
        """Retries until the provider answers 2xx or a non-retryable error (which is raised)."""
        backoff = Backoff(ceiling=self.retry_max)
        while True:
            try:
                return await self.call(method, path, body)
            except ProviderError as err:
                if not err.retryable:
                    raise
                delay = backoff.next_delay()
                _LOGGER.warning("%s: %s; retrying in %.1f s", what or path, err, delay)
                await asyncio.sleep(delay)

    async def aclose(self) -> None:
        """Ends the transport's connections (HTTP keeps none open between calls)."""

    # ------------------------------------------------------------------ endpoints
    async def locks(self) -> tuple[str, list[LockInfo]]:
        data = await self.call("GET", "/locks")
        return data.get("bridge_id", ""), [LockInfo.from_api(item) for item in data["locks"]]

    async def commands(self, wait: float, limit: int = 20, *, resume: bool = False) -> list[Command]:
        params: dict[str, Any] = {"wait": int(wait), "limit": limit}
        if resume:
            params["resume"] = "true"
        data = await self.call("GET", "/commands", params=params, timeout=self.timeout + wait)
        return [Command.from_api(item) for item in data.get("commands", [])]

    async def report_result(self, command_id: str, result: dict[str, Any]) -> dict[str, Any]:
        return await self.deliver("POST", f"/commands/{command_id}/result", result,
                                  what=f"result of command {command_id}")

    async def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.deliver("POST", "/events", {"events": events}, what="events")

    async def heartbeat(self, locks: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call("POST", "/heartbeat", {"locks": locks})

    async def desired_codes(self, lock_id: str) -> dict[str, Any]:
        """`access_codes` (what must be on the lock), `remove` (the only slots to clear), and the
        offline-code secret with the revocations to deliver (`offline`, `offline_revocations`)."""
        data = await self.call("GET", f"/locks/{lock_id}/access_codes")
        return {"access_codes": list(data.get("access_codes", [])), "remove": list(data.get("remove", [])),
                "offline": data.get("offline"), "offline_revocations": list(data.get("offline_revocations") or [])}

    async def key_confirmed(self, lock_id: str, rotation_id: int) -> dict[str, Any]:
        return await self.call("POST", f"/locks/{lock_id}/key_confirmed", {"rotation_id": rotation_id})

    async def code_sync(self, lock_id: str, report: dict[str, Any]) -> dict[str, Any]:
        return await self.deliver("POST", f"/locks/{lock_id}/code_sync", report,
                                  what=f"code sync of {lock_id}")
