"""The bridge API on an asyncio server: a waiting bridge costs a socket, not a thread.

Every request runs through the same Flask app (the same routes, services,
validation and error bodies as under gunicorn) on a small thread pool. The one
thing done differently is the wait of ``GET /bridge/v1/commands``: the route
looks once, in the pool, and when nothing is due the server parks the request
on the event loop until

* a wake-up of the bridge's channel (``services.wakeups``: pg_notify, Redis,
  or this process's own commits),
* a tick that finds commands due for a parked bridge: one query for all of
  them (``commands.bridges_with_due_commands``), which sees what no
  notification announces (a lease running out, a commit in another process
  when only SQLite carries the data), or
* the end of the bridge's wait,

and then looks again. A thousand waiting bridges are a thousand sockets and
small objects; Seam's API keeps its gunicorn threads (``provider serve``).

Run it with ``provider bridge-api``; route ``/bridge/v1/`` to it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from aiohttp import web

from provider.bridge_api.routes import DEFERRED_POLL
from provider.services import commands, wakeups

_LOGGER = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Threads that run requests through Flask; a parked poll holds none.
DEFAULT_THREADS = 8
#: Without cross-process wake-ups (SQLite and no REDIS_URL) the tick is how a command
#: committed by the web server is noticed: as often as a thread-held poll looked before.
TICK_SECONDS_LOCAL = commands.POLL_INTERVAL_SECONDS
#: With pg_notify or Redis, the tick only catches leases that ran out.
TICK_SECONDS_NOTIFIED = 1.0
#: Request bodies larger than this are refused before they reach Flask.
MAX_BODY_BYTES = 1024 * 1024
#: Token -> bridge memo (lets a poll register for its wake-up before its first look).
TOKEN_MEMO_SIZE = 200_000


def default_port() -> int:
    return int(os.environ.get("BRIDGE_PORT", "8081"))


class _Parked:
    """One parked poll: a hub waiter whose wake() may come from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.event = asyncio.Event()

    def wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _json_error(status: int, error_code: str, message: str) -> web.Response:
    from provider.errors import error_body

    return web.json_response(error_body(error_code, message), status=status)


class BridgeServer:
    """Serves a Flask app; long-polls of the bridge API wait on the event loop."""

    def __init__(self, flask_app: Any, *, threads: int = DEFAULT_THREADS, tick: float | None = None) -> None:
        self.flask_app = flask_app
        self.threads = threads
        self._tick = tick
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="bridge-api")
        self._parked: dict[str, set[_Parked]] = {}
        self._bridge_of_token: dict[bytes, str] = {}
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = HOST, port: int = 0, *, reuse_port: bool = False) -> int:
        cross_process = await self._in_pool(self._start_listener)
        tick = self._tick or (TICK_SECONDS_NOTIFIED if cross_process else TICK_SECONDS_LOCAL)
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a bridge that hangs up stops its parked poll (nothing is leased for it).
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_port=reuse_port or None, backlog=1024)
        await site.start()
        server = getattr(site, "_server", None)
        self.port = server.sockets[0].getsockname()[1] if server and server.sockets else port
        self._ticker = asyncio.create_task(self._tick_loop(tick), name="bridge-api tick")
        return self.port

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def parked(self) -> int:
        """Polls waiting on the loop right now (tests, logs)."""
        return sum(len(group) for group in self._parked.values())

    # ------------------------------------------------------------------ the pool
    async def _in_pool(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _start_listener(self) -> bool:
        with self.flask_app.app_context():
            return wakeups.start_listener()

    def _due_bridges(self) -> set[str]:
        from provider.extensions import db

        with self.flask_app.app_context():
            try:
                return commands.bridges_with_due_commands()
            finally:
                db.session.rollback()

    def _call_wsgi(self, environ: dict[str, Any]) -> web.Response:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return None

        result = self.flask_app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        code, _, reason = status.partition(" ")
        kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
        response = web.Response(status=int(code), reason=reason or None, body=body)
        for name, value in kept:
            response.headers.add(name, value)
        return response

    # ------------------------------------------------------------------ requests
    def _environ(self, request: web.Request, body: bytes) -> dict[str, Any]:
        raw_path, _, query = request.raw_path.partition("?")
        host, _, port = (request.host or f"{HOST}:{self.port}").partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(raw_path, encoding="latin-1"),  # PEP 3333: the bytes as latin-1
            "QUERY_STRING": query,
            "SERVER_NAME": host,
            "SERVER_PORT": port or str(self.port),
            "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
            "REMOTE_ADDR": request.remote or "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in request.headers.items():
            if "_" in name:  # as gunicorn and nginx: no X_Forwarded_For posing as X-Forwarded-For
                continue
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                key = "HTTP_" + key
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json_error(413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        environ = self._environ(request, body)
        if request.method != "GET":
            return await self._in_pool(self._call_wsgi, environ)
        return await self._get(environ)

    async def _get(self, environ: dict[str, Any]) -> web.Response:
        memo_key = hashlib.sha256(environ.get("HTTP_AUTHORIZATION", "").encode()).digest()
        loop = asyncio.get_running_loop()
        parked = _Parked(loop)
        registered: str | None = self._bridge_of_token.get(memo_key)
        if registered is not None:  # before the first look, so no wake-up falls in between
            self._register(registered, parked)
        try:
            deferred: dict[str, Any] = {}
            response = await self._in_pool(self._call_wsgi, {**environ, DEFERRED_POLL: deferred})
            bridge_id = deferred.get("bridge_id")
            if bridge_id is None or deferred.get("found") or response.status != 200 or deferred["wait"] <= 0:
                return response
            if registered != bridge_id:
                if registered is not None:
                    self._unregister(registered, parked)
                self._remember(memo_key, bridge_id)
                registered = bridge_id
                self._register(bridge_id, parked)
            deadline = loop.time() + deferred["wait"]
            again = self._without_resume(environ)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return response
                try:
                    await asyncio.wait_for(parked.event.wait(), remaining)
                except TimeoutError:
                    return response  # the empty answer of the last look
                parked.event.clear()
                deferred = {}
                looked = await self._in_pool(self._call_wsgi, {**again, "wsgi.input": io.BytesIO(b""),
                                                              DEFERRED_POLL: deferred})
                if looked.status != 200 or deferred.get("found") or deferred.get("bridge_id") != bridge_id:
                    return looked
                response = looked
        finally:
            if registered is not None:
                self._unregister(registered, parked)

    @staticmethod
    def _without_resume(environ: dict[str, Any]) -> dict[str, Any]:
        """`resume` takes back the bridge's leases on the first look only; later looks must not."""
        pairs = [(k, v) for k, v in parse_qsl(environ["QUERY_STRING"], keep_blank_values=True) if k != "resume"]
        return {**environ, "QUERY_STRING": urlencode(pairs)}

    def _remember(self, memo_key: bytes, bridge_id: str) -> None:
        if len(self._bridge_of_token) >= TOKEN_MEMO_SIZE:
            self._bridge_of_token.clear()
        self._bridge_of_token[memo_key] = bridge_id

    def _register(self, bridge_id: str, parked: _Parked) -> None:
        self._parked.setdefault(bridge_id, set()).add(parked)
        # The hub calls wake() from its listener thread, or from the thread that committed.
        wakeups.hub.add(commands.bridge_channel(bridge_id), parked)

    def _unregister(self, bridge_id: str, parked: _Parked) -> None:
        group = self._parked.get(bridge_id)
        if group is not None:
            group.discard(parked)
            if not group:
                del self._parked[bridge_id]
        wakeups.hub.discard(commands.bridge_channel(bridge_id), parked)

    async def _tick_loop(self, tick: float) -> None:
        while True:
            await asyncio.sleep(tick)
            if not self._parked:
                continue
            try:
                due = await self._in_pool(self._due_bridges)
            except Exception as err:  # a failed tick costs one tick; wake-ups still work
                _LOGGER.warning("bridge-api tick failed (%s)", type(err).__name__)
                continue
            for bridge_id in due:
                for parked in list(self._parked.get(bridge_id, ())):
                    parked.event.set()


async def serve(flask_app: Any, host: str, port: int, threads: int) -> None:
    server = BridgeServer(flask_app, threads=threads)
    bound = await server.start(host, port)
    _LOGGER.info("bridge API listening on http://%s:%d (%d threads)", host, bound, threads)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="provider bridge-api", description=__doc__)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from provider import create_app

    app = create_app({"PROVIDER_MIGRATIONS": False})
    threads = args.threads or int(os.environ.get("BRIDGE_API_THREADS", str(DEFAULT_THREADS)))
    port = args.port if args.port is not None else default_port()
    asyncio.run(serve(app, HOST, port, threads))


if __name__ == "__main__":
    main()
