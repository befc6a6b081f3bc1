"""/metrics of a real sandbox: gunicorn workers and the dispatcher counted together."""

from __future__ import annotations

import pytest
import requests

from tests.browser import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_sandbox")]

TOKEN = {"Authorization": "Bearer e2e-metrics-token"}


def _metrics(live_sandbox) -> str:
    response = requests.get(live_sandbox.base_url + "/metrics", headers=TOKEN, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def test_metrics_need_the_token(live_sandbox):
    assert requests.get(live_sandbox.base_url + "/metrics", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert requests.get(live_sandbox.base_url + "/metrics", headers=wrong, timeout=10).status_code == 401


def test_requests_bridges_and_long_polls_are_measured(live_sandbox):
    requests.get(live_sandbox.base_url + "/health", timeout=10)
    requests.get(live_sandbox.base_url + "/locks", timeout=10)  # a 401 in the error shape
    health = 'provider_http_requests_total{method="GET",route="/health",status="200"}'

    def scraped() -> str | None:
        text = _metrics(live_sandbox)
        return text if health in text and 'provider_bridges_connected{transport="http"}' in text else None

    text = wait_until(scraped, what="the sandbox's metrics")
    assert 'provider_http_errors_total{error_code="UNAUTHORIZED"}' in text
    assert "provider_bridge_long_polls_in_flight" in text
    for family in ("provider_command_queue_depth", "provider_outbox_backlog", "provider_dispatcher_lag_seconds",
                   "provider_http_request_duration_seconds_bucket"):
        assert family in text
