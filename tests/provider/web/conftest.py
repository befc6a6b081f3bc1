"""Owner pages through Flask's test client: a signed-in owner with a site of two locks."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.browser import axe_page, chromium_with_axe  # noqa: F401  (fixtures: page)
from tests.provider.devices.conftest import other_site, site  # noqa: F401  (fixtures)
from tests.provider.oauth.conftest import live_server  # noqa: F401  (fixture)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Pages:
    """A browser-like client: reads the CSRF token from the page it posts from."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs):
        response = self.client.get(path, **kwargs)
        text = response.get_data(as_text=True)
        if CSRF.search(text):
            self.token = csrf_of(text)
        return response

    def post(self, path: str, data: dict | None = None, *, page: str | None = None, **kwargs):
        # The token of the page the form is on (a new session after sign-in has a new one).
        self.get(page or "/account/sign-in", follow_redirects=True)
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def sign_in(self, email: str = "jane@example.com", password: str = "1234"):
        response = self.post("/account/sign-in", {"email": email, "password": password},
                             page="/account/sign-in")
        assert response.status_code == 303, response.get_data(as_text=True)
        return response


@pytest.fixture
def pages(app):
    # HTML pages are not part of the API document: a plain client, not the spec-checking one.
    return Pages(FlaskClient(app, app.response_class, use_cookies=True))


@pytest.fixture
def owner_pages(pages, account):
    pages.sign_in()
    return pages



OPERATOR_EMAIL = "ops@vendor.example"
OPERATOR_PASSWORD = "ops-password-1"


@pytest.fixture
def operator(app):
    from provider.extensions import db
    from provider.services import operators

    row, seed = operators.create_operator(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    db.session.commit()
    row.seed = seed
    return row


def sign_in_operator(pages: Pages, operator, code: str | None = None):
    from provider.services import operators

    return pages.post("/ops/sign-in", {"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD,
                                       "code": code or operators.current_code(operator)}, page="/ops/sign-in")


@pytest.fixture
def ops_pages(app, operator):
    ops = Pages(FlaskClient(app, app.response_class, use_cookies=True))
    response = sign_in_operator(ops, operator)
    assert response.status_code == 303, response.get_data(as_text=True)
    return ops
