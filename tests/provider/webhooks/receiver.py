"""A real HTTP receiver on 127.0.0.1 for webhook tests and the benchmark."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    path: str = "/hook"

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """Records every POST; `respond(received) -> Reply` decides the answer (default 204)."""

    def __init__(self, respond: Callable[[Received], Reply] | None = None) -> None:
        self.respond = respond or (lambda _: Reply(204))
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                got = Received(
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                    time.monotonic(),
                    self.path,
                )
                with receiver._lock:
                    receiver.received.append(got)
                reply = receiver.respond(got)
                if reply.delay:
                    time.sleep(reply.delay)
                body = b"{}"
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the dispatcher gave up (timeout) and closed the connection

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the dispatchers open many connections at once

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a dispatcher killed or timing out mid-request resets its connection

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.json for r in self.received]

    def event_ids(self) -> list[str]:
        return [p["event_id"] for p in self.payloads()]
