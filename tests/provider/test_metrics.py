"""/metrics in one process: off without a token, counts requests, errors, sign-ins and queues."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def metrics_client(make_app):
    app = make_app(METRICS_TOKEN="s3cret-metrics")
    return FlaskClient(app, app.response_class)


def _scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_metrics_are_off_without_a_token(client):
    assert client.get("/metrics").status_code == 404  # the spec-checking client: documented


def test_metrics_refuse_a_wrong_token(metrics_client):
    assert metrics_client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_requests_and_error_codes_are_counted(metrics_client):
    metrics_client.get("/locks")
    text = _scrape(metrics_client)
    assert 'provider_http_requests_total{method="GET",route="/locks",status="401"}' in text
    assert 'provider_http_errors_total{error_code="UNAUTHORIZED"}' in text


def test_queue_depth_is_read_from_the_database(metrics_client, app, account):
    from provider.extensions import db
    from provider.services import actions, rate_limits
    from tests.provider.devices.conftest import make_site

    site = make_site(app, account)
    actions.request_action(account.id, site.locks[0].id, "unlock", limiter=rate_limits.limiter_for(None))
    db.session.commit()
    assert "provider_command_queue_depth 1.0" in _scrape(metrics_client)


def test_throttled_sign_ins_are_counted(metrics_client, account):
    from provider.services import oauth_login

    before = _scrape(metrics_client)
    for _ in range(7):
        oauth_login.sign_in("jane@example.com", "wrong", "10.0.0.1")
    after = _scrape(metrics_client)
    line = 'provider_sign_ins_total{kind="account",outcome="throttled"}'
    assert _value(after, line) - _value(before, line) >= 1


def _value(text: str, line: str) -> float:
    return float(text.split(line)[1].split()[0]) if line in text else 0.0
