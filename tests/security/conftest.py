"""Fixtures for the adversary's tests: several OAuth clients and owners on one deployment."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from provider.extensions import db
from provider.models import OAuthClient
from provider.services.oauth_clients import create_client
from provider.services.oauth_tokens import issue_token
from tests.conftest import OAUTH_TEST_REDIRECT_URI


@dataclass
class Integrator:
    row: OAuthClient
    secret: str

    @property
    def pk(self) -> str:
        return self.row.id

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.row.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def authorised_by(self, owner, scope: str = "locks.read locks.write") -> dict:
        token = issue_token(self.row, owner, scope)
        db.session.commit()
        return token


@pytest.fixture
def make_integrator(app):
    def _make(name: str, scope: str = "locks.read locks.write") -> Integrator:
        row, secret = create_client(name, [OAUTH_TEST_REDIRECT_URI], scope, client_id=name.lower().replace(" ", "-"))
        db.session.commit()
        return Integrator(row, secret)

    return _make


@pytest.fixture
def site(app, account):
    from tests.provider.devices.conftest import make_site

    return make_site(app, account)
