"""HSTS in production, owner-only database files, RFC 8414 metadata where a client with
an issuer path looks for it, and the refresh token's configurable absolute lifetime."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import text

from provider import create_app
from provider.extensions import db

PRODUCTION = {"PROVIDER_ENV": "production", "SECRET_KEY": "k", "DATABASE_URL": "sqlite://",
              "PROVIDER_PROXY_HOPS": "1"}


def test_production_responses_carry_hsts(make_app):
    prod = make_app(ENV=PRODUCTION, PROVIDER_ISSUER="https://locks.example.com")
    response = prod.test_client().get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_sandbox_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/health").headers


def test_sqlite_database_files_are_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "provider.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "k", "TESTING": True,
                      "ENV": {"PROVIDER_VAR_DIR": str(tmp_path)}, "PROVIDER_MIGRATIONS": False})
    with app.app_context():
        db.session.execute(text("CREATE TABLE t (x INTEGER)"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with app.app_context():
        db.session.execute(text("SELECT * FROM t")).all()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("provider.db")]
        assert files
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
        db.session.remove()
        db.engine.dispose()


def test_metadata_is_also_at_the_rfc8414_path_inserted_location(make_app):
    based = make_app(PROVIDER_BASE_PATH="/devicecloud", PROVIDER_ISSUER="https://locks.example.com/devicecloud")
    web = based.test_client()
    inserted = web.get("/.well-known/oauth-authorization-server/devicecloud", validate=False)
    assert inserted.status_code == 200
    assert inserted.get_json()["issuer"] == "https://locks.example.com/devicecloud"
    assert web.get("/devicecloud/.well-known/oauth-authorization-server").get_json() == inserted.get_json()


def test_a_refresh_token_past_its_absolute_lifetime_is_refused(make_app, account, oauth_client, frozen_clock):
    from provider.services import grants, oauth_tokens

    short = make_app(PROVIDER_REFRESH_TOKEN_DAYS="1")
    with short.app_context():
        token = oauth_tokens.issue_token(oauth_client, account, "locks.read")
        db.session.commit()
        web = short.test_client()
        form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                "client_id": oauth_client.client_id, "client_secret": oauth_client.secret}
        assert web.post("/oauth/token", data=form).status_code == 200
        frozen_clock.advance(86400 + 1)
        refused = web.post("/oauth/token", data=form)
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
        assert grants.authorised_clients(account.id) == set(), "an expired grant carries no events"


def test_the_default_refresh_lifetime_is_long(app):
    from provider.services import grants

    lifetime = grants.refresh_token_lifetime()
    assert lifetime is not None and lifetime.days >= 365 * 5
    assert pytest.approx(app.config["PROVIDER_REFRESH_TOKEN_DAYS"]) == 1825
