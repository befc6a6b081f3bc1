"""Webhook targets (SSRF): IPv6 spellings of internal IPv4 addresses refused, nothing sent
to a refused address (not even a TCP handshake), production rules by default, and no
internal service's answer readable through the delivery log."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner

from provider.dispatcher import sender
from provider.services import webhooks


@pytest.mark.parametrize("url", [
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254 (cloud metadata)
    "https://[64:ff9b:1::7f00:1]/",  # local-use NAT64 of 127.0.0.1
    "https://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "https://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    "https://[::a00:1]/",  # IPv4-compatible 10.0.0.1
    "https://[fec0::1]/",  # site-local
    "https://[::ffff:a9fe:a9fe]/",  # IPv4-mapped, hex form
])
def test_ipv6_forms_of_internal_addresses_are_refused_in_production(url):
    with pytest.raises(webhooks.WebhookError):
        webhooks.validate_url(url, production=True)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_stay_allowed(address):
    assert webhooks.forbidden_address_reason(address) is None


def test_a_refused_address_never_sees_a_connection():
    """The answer must not tell an internal port open from closed: nothing is sent at all."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    accepted = []

    def accept():
        try:
            conn, _ = listener.accept()
            accepted.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    port = listener.getsockname()[1]
    session = sender.make_session(production=True)
    outcome = sender.post(session, f"https://127.0.0.1:{port}/x", b"{}", {}, timeout=2, at=datetime.now(UTC))
    closed = sender.post(session, "https://127.0.0.1:9/x", b"{}", {}, timeout=2, at=datetime.now(UTC))
    thread.join()
    listener.close()
    assert accepted == [], "a TCP connection reached the refused address"
    assert outcome.status_code is None and "loopback" in outcome.error
    assert outcome.error == closed.error.replace(":9", f":{port}") or outcome.error == closed.error


class _Leaky(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"internal secret: db password hunter2"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_the_delivery_log_does_not_echo_an_internal_targets_answer():
    server = HTTPServer(("127.0.0.1", 0), _Leaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        outcome = sender.post(sender.make_session(production=False), url, b"{}", {}, timeout=5,
                              at=datetime.now(UTC))
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.status_code == 500
    assert "hunter2" not in (outcome.error or "")


@pytest.mark.parametrize("command", ["serve", "dispatcher"])
def test_the_production_entry_points_default_to_production_rules(monkeypatch, command):
    from provider import cli

    monkeypatch.setenv("PROVIDER_ENV", "unset-below")  # so that teardown restores the original
    monkeypatch.delenv("PROVIDER_ENV")
    seen = {}
    monkeypatch.setattr("os.execv", lambda *_args: seen.setdefault("env", dict(__import__("os").environ)))
    result = CliRunner().invoke(cli.main, [command, "--once"] if command == "dispatcher" else [command])
    env = seen.get("env") or dict(__import__("os").environ)
    assert env.get("PROVIDER_ENV") == "production"
    if command == "dispatcher":
        assert result.exit_code != 0  # production without SECRET_KEY/DATABASE_URL refuses to start
