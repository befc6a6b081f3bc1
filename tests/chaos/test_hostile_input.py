"""Inputs PostgreSQL refuses to store (a NUL byte) must be a client error, never a 500.

Found by the long schemathesis run of `make chaos` (docs/reliability.md): on
PostgreSQL a NUL in a client_id, or a cursor that decodes to one, reached the
database and came back as HTTP 500.
"""

from __future__ import annotations

import base64

import pytest

from provider.extensions import db
from provider.services import oauth_clients, oauth_tokens
from provider.services.accounts import ensure_account

NUL_CLIENT = "\x00"


@pytest.fixture
def bearer(app):
    client = oauth_clients.ensure_client("hostile", "hostile-secret", "Hostile", ["http://localhost/cb"],
                                         "locks.read locks.write")
    account = ensure_account("hostile@example.com", "pw")
    token = oauth_tokens.issue_token(client, account, "locks.read locks.write")["access_token"]
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/oauth/token", {"data": {"grant_type": "authorization_code", "code": "x",
                                           "client_id": NUL_CLIENT, "client_secret": "y"}}),
        ("POST", "/oauth/revoke", {"data": {"token": "t", "client_id": NUL_CLIENT, "client_secret": "y"}}),
        ("GET", "/oauth/authorize?response_type=code&client_id=%00", {}),
        ("GET", "/authorize?response_type=code&client_id=%00", {}),
        ("GET", "/webhooks", {"headers": {"Authorization": "Basic " + base64.b64encode(b"\x00:x").decode()}}),
    ],
)
def test_a_nul_byte_in_a_client_id_is_not_a_server_error(client, method, path, kwargs):
    response = client.open(path, method=method, validate=False, **kwargs)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]


def test_a_cursor_that_decodes_to_a_nul_byte_is_a_400(client, bearer):
    response = client.get("/locks?limit=10&cursor=AA", headers=bearer, validate=False)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
