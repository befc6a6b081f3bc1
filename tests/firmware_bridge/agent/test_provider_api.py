"""The bridge API client over real HTTP (a scripted local server): errors, retries, auth header."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from firmware_bridge.agent.provider_api import ProviderApi, ProviderError, Unauthorized

TOKEN = "brg_test-token"


class Scripted:
    """Answers each request with the next (status, body) of a script; records what it got."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                owner.requests.append((self.command, self.path, self.headers.get("Authorization"), body))
                status, payload = owner.script.pop(0) if owner.script else (200, {"ok": True})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # http.server's naming

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/base/bridge/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(*script):
        server = Scripted(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_locks_parsed_and_token_sent(scripted):
    server = scripted((200, {"bridge_id": "b1", "locks": [{
        "lock_id": "l1", "name": "Front", "model": "HALO-01", "ble_address": "C0:00:00:00:00:01",
        "device_key": "00" * 16, "timezone": "Europe/Paris", "code_capacity": 30, "last_event_seq": 7}]}))
    bridge_id, locks = asyncio.run(ProviderApi(server.url, TOKEN).locks())
    assert bridge_id == "b1"
    assert locks[0].last_event_seq == 7 and locks[0].device_key == bytes(16)
    assert "00000000" not in repr(locks[0])  # the key never shows in logs
    assert server.requests[0][:3] == ("GET", "/base/bridge/v1/locks", f"Bearer {TOKEN}")


@pytest.mark.parametrize(("status", "error", "retryable"), [
    (401, Unauthorized, True), (404, ProviderError, False), (400, ProviderError, False),
    (500, ProviderError, True), (503, ProviderError, True), (429, ProviderError, True),
])
def test_errors_classified(scripted, status, error, retryable):
    server = scripted((status, {"error_code": "X", "message": "no"}))
    with pytest.raises(error) as info:
        asyncio.run(ProviderApi(server.url, TOKEN).heartbeat([]))
    assert info.value.status == status and info.value.retryable is retryable
    assert TOKEN not in str(info.value)


def test_unreachable_provider_is_a_retryable_error():
    api = ProviderApi("http://127.0.0.1:9/bridge/v1", TOKEN, timeout=2)
    with pytest.raises(ProviderError) as info:
        asyncio.run(api.commands(wait=1))
    assert info.value.retryable


def test_results_retried_until_confirmed_and_refusals_not(scripted):
    server = scripted((503, {}), (500, {}), (200, {"ok": True, "duplicate": False}), (404, {"error_code": "NOT_FOUND"}))
    api = ProviderApi(server.url, TOKEN, retry_max=0.05)
    answer = asyncio.run(api.report_result("c1", {"status": "succeeded", "error_code": None, "message": None}))
    assert answer == {"ok": True, "duplicate": False}
    assert [r[1] for r in server.requests] == ["/base/bridge/v1/commands/c1/result"] * 3
    with pytest.raises(ProviderError):
        asyncio.run(api.report_result("c2", {"status": "succeeded", "error_code": None, "message": None}))


def test_long_poll_asks_for_the_wait(scripted):
    server = scripted((200, {"commands": [{"command_id": "c1", "lock_id": "l1", "type": "put_code",
                                           "params": {"code": "482913", "slot": 2}, "attempt": 2,
                                           "expires_at": "2030-01-01T00:00:00Z", "created_at": "x"}]}))
    commands = asyncio.run(ProviderApi(server.url, TOKEN).commands(wait=20, limit=5))
    assert commands[0].attempt == 2 and commands[0].params["slot"] == 2
    assert "482913" not in repr(commands[0])
    assert server.requests[0][1] == "/base/bridge/v1/commands?wait=20&limit=5"
