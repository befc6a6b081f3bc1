"""What a Seam-like client does against a live sandbox: OAuth sign-in, API calls, a webhook receiver.

Reuses the certification kit's browser-like OAuth driver and webhook listener.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from certify.http import Http
from certify.listener import Listener
from certify.oauth_driver import Browser
from firmware_bridge.agent.virtual_backend import control_request, find_control
from tests.openapi import assert_event_matches_spec

CLIENT_ID, CLIENT_SECRET = "seam", "seamsecret"  # seeded by `provider sandbox`
REDIRECT_URI = "http://localhost:3020/oauth/callback"


def sign_in(base_url: str, username: str, password: str) -> dict[str, Any]:
    """The OAuth code flow as Seam runs it: authorize page (login, consent), then the token call."""
    state = secrets.token_urlsafe(8)
    flow = Browser(Http(base_url), username, password).authorize("/oauth/authorize", {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
        "scope": "locks.read locks.write", "state": state})
    assert flow.redirect, f"the OAuth flow did not come back: {flow.error}"
    assert flow.params.get("state") == state
    response = requests.post(base_url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": flow.params["code"], "redirect_uri": REDIRECT_URI,
    }, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class SeamApi:
    base_url: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, **kwargs)

    def wait_action(self, lock_id: str, action_id: str, timeout: float = 20.0) -> dict[str, Any]:
        return poll(lambda: self.call("GET", f"/locks/{lock_id}/actions/{action_id}").json(),
                    lambda action: action.get("status") != "pending", timeout)


def poll(probe: Callable[[], Any], done: Callable[[Any], bool], timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Webhooks:
    """A receiver registered with the sandbox (client credentials), verifying every signature."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.listener = Listener("127.0.0.1", 0, path="/e2e/webhook")
        self.webhook_id: str | None = None

    def __enter__(self) -> Webhooks:
        self.listener.start()
        response = requests.post(self.base_url + "/webhooks", json={"url": self.listener.url},
                                 auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
        assert response.status_code == 201, response.text
        self.webhook_id = response.json()["webhook_id"]
        self.listener.secret = response.json()["secret"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.webhook_id:
            requests.delete(f"{self.base_url}/webhooks/{self.webhook_id}", auth=(CLIENT_ID, CLIENT_SECRET),
                            timeout=10)
        self.listener.stop()
        if exc[0] is None:
            # Every delivery of the run is what openapi.yaml's webhooks: say it is.
            for delivery in self.listener.deliveries:
                assert_event_matches_spec(delivery.payload or {})

    def mark(self) -> int:
        """A position in the deliveries: `wait(..., since=mark)` ignores what came before."""
        return len(self.listener.deliveries)

    def events(self, event_type: str | None = None, since: int = 0, **data: Any) -> list[dict[str, Any]]:
        found = []
        for delivery in list(self.listener.deliveries)[since:]:
            payload = delivery.payload or {}
            if event_type and payload.get("event_type") != event_type:
                continue
            body = payload.get("data") or {}
            if all(body.get(k, payload.get(k)) == v for k, v in data.items()):
                found.append({**payload, "_signature": delivery.signature})
        return found

    def wait(self, event_type: str, timeout: float = 20.0, since: int = 0, **data: Any) -> dict[str, Any]:
        self.listener.wait_for(lambda _d: bool(self.events(event_type, since, **data)), timeout)
        matches = self.events(event_type, since, **data)
        assert matches, (f"no {event_type} {data} webhook within {timeout} s; got "
                         f"{[d.payload.get('event_type') for d in self.listener.deliveries if d.payload]}")
        return matches[0]


def virtual_locks(var_dir: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Talks to the sandbox bridge agents' virtual-lock control endpoints."""
    return asyncio.run(control_request(find_control([var_dir / "bridge"]), request))


def served_lock_ids(var_dir: Path) -> set[str]:
    """The locks the sandbox's bridge agents simulate and serve right now."""
    try:
        answer = virtual_locks(var_dir, {"op": "locks"})
    except (OSError, ValueError, KeyError):
        return set()  # no agent has written its control endpoint yet
    return {lock["lock_id"] for lock in answer.get("locks", [])}


def wait_until_serving(sandbox: Any, timeout: float = 90.0) -> None:
    """The sandbox answers /health before its dispatcher and agents start: wait for both,
    and for the agents to serve their locks, so a first action does not spend its wait on
    the sandbox's start-up."""
    served = poll(lambda: (sandbox.runs("dispatcher") and sandbox.runs("firmware_bridge.agent")
                           and served_lock_ids(sandbox.var_dir)), bool, timeout)
    assert served, f"the sandbox's agents serve no lock after {timeout} s\n{sandbox.log_tail()}"


def run_kit(base_url: str, out: Path, waits: list[str]) -> subprocess.CompletedProcess[str]:
    """provider-certify against the sandbox as a vendor runs it: the real CLI in its own
    process, every profile, webhooks on a local port; JSON and JUnit reports into `out`."""
    command = [
        sys.executable, "-m", "certify.cli",
        "--base-url", base_url,
        "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
        "--redirect-uri", REDIRECT_URI,
        "--username", "jane@example.com", "--password", "1234",
        "--webhook-listen", "127.0.0.1:0",
        "--profile", "all",
        "--json", str(out / "report.json"), "--junit", str(out / "report.xml"),
        *waits,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)
