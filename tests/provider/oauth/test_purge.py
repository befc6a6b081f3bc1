"""Purging codes and tokens that can no longer be used."""

from __future__ import annotations

from sqlalchemy import func, select

from provider.extensions import db
from provider.models.oauth import OAuthAuthorizationCode, OAuthToken
from provider.services import oauth_tokens


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_purge_keeps_what_still_works(get_code, exchange, refresh, probe, frozen_clock):
    tokens = exchange(get_code()).get_json()
    refreshed = refresh(tokens["refresh_token"]).get_json()
    revoked = exchange(get_code()).get_json()
    row = oauth_tokens.find_by_access_token(revoked["access_token"])
    oauth_tokens.revoke_grant(row.grant_id)
    db.session.commit()
    get_code()  # an unused code
    assert (count(OAuthAuthorizationCode), count(OAuthToken)) == (3, 3)

    frozen_clock.advance(600 + 86400 - 1)
    assert oauth_tokens.purge_expired() == 0
    frozen_clock.advance(2)
    assert oauth_tokens.purge_expired() == 3  # the codes, a day after they expired
    frozen_clock.advance(3000)
    # The refresh-made row and the revoked grant go; the row with the live refresh token stays.
    assert oauth_tokens.purge_expired() == 2
    db.session.commit()
    assert count(OAuthAuthorizationCode) == 0
    assert count(OAuthToken) == 1
    assert refresh(tokens["refresh_token"]).status_code == 200
    assert probe(token=refreshed["access_token"]).status_code == 401


def test_purge_command(app):
    from provider.cli.clients import clients

    result = app.test_cli_runner().invoke(clients, ["purge"])
    assert result.exit_code == 0
    assert "deleted 0" in result.output
