"""Helpers for the OAuth tests: the browser-side dance through the test client, a live server."""

from __future__ import annotations

import concurrent.futures
import re
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import jsonify
from werkzeug.serving import make_server

from provider.oauth.server import current_account, require_oauth
from tests.conftest import OAUTH_TEST_REDIRECT_URI

REDIRECT_URI = OAUTH_TEST_REDIRECT_URI
STATE = "st/ate+with spaces&odd=chars~"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(client_id: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "locks.read locks.write",
        "state": STATE,
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


class Browser:
    """Drives the authorization pages through a Flask test client (cookies kept)."""

    def __init__(self, client, path: str = "/oauth/authorize", prefix: str = "") -> None:
        self.client = client
        self.path = prefix + path

    def open(self, params):
        return self.client.get(self.path, query_string=params)

    def sign_in(self, params, email="jane@example.com", password="1234"):
        page = self.open(params)
        assert page.status_code == 200, page.get_data(as_text=True)
        return self.client.post(
            self.path,
            query_string=params,
            data={"csrf_token": csrf_token(page.get_data(as_text=True)), "step": "login",
                  "email": email, "password": password},
        )

    def decide(self, params, decision="approve"):
        page = self.open(params)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'value="consent"' in html, "expected the consent page"
        return self.client.post(
            self.path,
            query_string=params,
            data={"csrf_token": csrf_token(html), "step": "consent", "decision": decision},
        )

    def authorize(self, params, decision="approve", **login):
        signed_in = self.sign_in(params, **login)
        assert signed_in.status_code == 303, signed_in.get_data(as_text=True)
        response = self.decide(params, decision)
        assert response.status_code == 303
        return query_of(response.headers["Location"])


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def get_code(browser, account, oauth_client):
    """get_code(**authorize params) -> a fresh authorization code for `account`."""

    def _get(**extra):
        return browser.authorize(authorize_params(oauth_client.client_id, **extra))["code"]

    return _get


@pytest.fixture
def exchange(client, oauth_client):
    """exchange(code, **form) -> the token endpoint's response (client_secret_post)."""

    def _exchange(code, **form):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": oauth_client.client_id,
            "client_secret": oauth_client.secret,
        }
        data.update(form)
        return client.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})

    return _exchange


@pytest.fixture
def probe_app(make_app):
    """An app with protected probe routes (test-only; outside openapi.yaml)."""
    other = make_app()

    @other.get("/_probe/read")
    @require_oauth("locks.read")
    def _read():
        return jsonify({"user_id": current_account().id})

    @other.post("/_probe/write")
    @require_oauth("locks.write")
    def _write():
        return jsonify({"ok": True})

    return other


@pytest.fixture
def probe(probe_app):
    """probe(path, token=None, method="GET") -> response of a protected probe route."""
    client = probe_app.test_client()

    def _call(path="/_probe/read", token=None, method="GET", headers=None):
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return client.open(path, method=method, headers=headers, validate=False)

    return _call


def post_at_once(url: str, form: dict[str, str], n: int) -> list[requests.Response]:
    """POSTs the same form n times from n threads released together (a barrier), in order."""
    barrier = threading.Barrier(n)

    def _post(_: int) -> requests.Response:
        barrier.wait(10)
        return requests.post(url, data=form, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(_post, range(n)))


@pytest.fixture
def refresh(client, oauth_client):
    """refresh(refresh_token, **form) -> the token endpoint's response to a refresh."""

    def _refresh(refresh_token, **form):
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": oauth_client.client_id,
            "client_secret": oauth_client.secret,
            **form,
        }
        return client.post("/oauth/token", data=data)

    return _refresh


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app on a real threaded HTTP server on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
