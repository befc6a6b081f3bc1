"""A webhook receiver: records every delivery, verifies Standard Webhooks signatures,
and answers 500 to the first delivery it is told to refuse (to watch the retry)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from certify.http import redact_json, redact_params_in_text

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass
class Delivery:
    received_at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the listener answered
    payload: Any = None
    signature: str = "unchecked"  # "valid", "invalid: ...", "missing", "unchecked"

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "answered": self.status,
            "headers": {k: v for k, v in self.headers.items() if k.startswith("webhook-")},
            # Events carry PINs (access_code.created's code, incorrect_attempt's pin): masked.
            "payload": redact_json(self.payload) if self.payload is not None
            else redact_params_in_text(self.body[:300].decode("utf-8", "replace")),
            "signature": self.signature,
        }


@dataclass
class Listener:
    host: str
    port: int
    path: str = "/seam-certify/webhook"
    secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    # Deliveries matching this predicate are answered 500, once (the first such one).
    refuse_once: Any = None
    refused: Delivery | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = listener.receive(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="certify-webhooks", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        if getattr(self, "server", None) is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        """The URL to register (a provider elsewhere needs --webhook-url: a tunnel or public name)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{self.path}"

    def verify(self, headers: dict[str, str], body: bytes) -> str:
        if not all(name in headers for name in SIGNATURE_HEADERS):
            return "missing"
        if not self.secret:
            return "unchecked"
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as err:
            return f"invalid: {err}"
        except Exception as err:  # a malformed secret or header is the provider's fault
            return f"invalid: {type(err).__name__}: {err}"
        return "valid"

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        delivery = Delivery(time.monotonic(), path, headers, body, 200, payload, self.verify(headers, body))
        with self._cond:
            if self.refused is None and self.refuse_once is not None and self.refuse_once(delivery):
                delivery.status = 500
                self.refused = delivery
            self.deliveries.append(delivery)
            self._cond.notify_all()
        return delivery.status

    def wait_for(self, predicate: Any, timeout: float) -> list[Delivery]:
        """Waits until predicate(deliveries) is true or the timeout passes; returns a snapshot."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.deliveries)
