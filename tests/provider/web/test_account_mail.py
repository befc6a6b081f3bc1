"""Password reset and self sign-up by mailed link (the sandbox's file drop stands in for SMTP)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from provider.extensions import db
from provider.models import Account
from provider.services import mail
from tests.provider.web.conftest import Pages

LINK = re.compile(r"http://localhost(/account/\S+)")


def _last_link(app) -> str:
    mails = mail.dropped(mail.MailSettings.from_config(app.config))
    assert mails, "no mail was written"
    return LINK.search(mails[0].body).group(1)


@pytest.fixture
def mailbox(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "PROVIDER_VAR_DIR", str(tmp_path))
    return tmp_path / "mail"


def test_reset_link_sets_a_new_password_once(pages, account, app, mailbox):
    response = pages.post("/account/reset", {"email": "jane@example.com"}, page="/account/reset")
    assert "a link to reset its password is on its way" in response.get_data(as_text=True)
    link = _last_link(app)
    pages.get(link)
    response = pages.post(link, {"new_password": "brand-new", "confirm": "brand-new"}, page=link)
    assert response.status_code == 303
    pages.post("/account/sign-out", page="/account/locks")
    pages.sign_in(password="brand-new")
    # The same link again: dead, because the password it was issued against is gone.
    assert pages.get(link).status_code == 400


def test_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(pages, app, mailbox):
    response = pages.post("/account/reset", {"email": "nobody@example.com"}, page="/account/reset")
    assert "a link to reset its password is on its way" in response.get_data(as_text=True)
    assert not mailbox.exists() or not list(mailbox.iterdir())


def test_sandbox_mail_page_shows_the_mail(pages, account, app, mailbox):
    pages.post("/account/reset", {"email": "jane@example.com"}, page="/account/reset")
    html = pages.get("/account/sandbox/mail").get_data(as_text=True)
    assert "Reset your Halo Locks password" in html


def test_sandbox_mail_page_does_not_exist_in_production(make_app):
    production = make_app(PROVIDER_ENV="production")
    assert FlaskClient(production, production.response_class).get("/account/sandbox/mail").status_code == 404


def test_sign_up_is_off_unless_the_vendor_allows_it(pages):
    assert pages.get("/account/sign-up").status_code == 404


def test_self_sign_up_creates_the_account_only_when_the_link_is_followed(make_app, tmp_path):
    signup_app = make_app(ACCOUNT_SIGNUP="self", PROVIDER_VAR_DIR=str(tmp_path))
    pages = Pages(FlaskClient(signup_app, signup_app.response_class, use_cookies=True))
    with signup_app.app_context():
        response = pages.post("/account/sign-up", {"email": "new@example.com", "new_password": "pw-12345",
                                                   "confirm": "pw-12345"}, page="/account/sign-up")
        assert "Check your mail" in response.get_data(as_text=True)
        assert db.session.query(Account).filter_by(email="new@example.com").count() == 0
        link = _last_link(signup_app)
        assert pages.get(link).status_code == 303
        assert db.session.query(Account).filter_by(email="new@example.com").count() == 1
        db.session.remove()
