"""Prometheus metrics: /metrics in the text format, per-process counters merged under gunicorn.

Request, sign-in, long-poll and delivery metrics are counted where they
happen; queue depths, backlogs and lags are read from the database at scrape
time (every process sees the same tables, so they are never double-counted).
Under gunicorn, `provider serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before the workers start, and each process writes its counters
there; /metrics adds them up. /metrics is off unless METRICS_TOKEN is set,
and then answers only `Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from provider.web_server import MULTIPROC_ENV

REQUESTS = Counter("provider_http_requests_total", "HTTP requests answered, by route, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("provider_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                    ["route", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
ERRORS = Counter("provider_http_errors_total", "Error answers in the documented shape, by error_code.",
                 ["error_code"])
SIGN_INS = Counter("provider_sign_ins_total", "Sign-in attempts, by who (account, operator) and outcome "
                   "(success, failure, throttled).", ["kind", "outcome"])
LONG_POLLS = Gauge("provider_bridge_long_polls_in_flight", "Bridge command long-polls waiting right now.",
                   multiprocess_mode="livesum")
DELIVERY_LATENCY = Histogram("provider_webhook_delivery_duration_seconds",
                             "Time for a webhook receiver to answer a delivery, by webhook.", ["webhook_id"],
                             buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
DELIVERY_FAILURES = Counter("provider_webhook_delivery_failures_total",
                            "Delivery attempts that did not get a 2xx, by webhook and reason (http_4xx, "
                            "http_5xx, network).", ["webhook_id", "reason"])


def count_sign_in(kind: str, outcome: str) -> None:
    SIGN_INS.labels(kind, outcome).inc()


@contextmanager
def long_poll() -> Iterator[None]:
    LONG_POLLS.inc()
    try:
        yield
    finally:
        LONG_POLLS.dec()


def observe_delivery(webhook_id: str, status_code: int | None, latency_ms: int, succeeded: bool) -> None:
    if status_code is not None:
        DELIVERY_LATENCY.labels(webhook_id).observe(latency_ms / 1000)
    if not succeeded:
        reason = "network" if status_code is None else f"http_{status_code // 100}xx"
        DELIVERY_FAILURES.labels(webhook_id, reason).inc()


class DatabaseCollector:
    """Gauges read from the tables at scrape time (inside the /metrics request)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from provider.services import observed

        for name, help_text, labels, samples in observed.gauges():
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for label_values, value in samples:
                family.add_metric(label_values, value)
            yield family


def _registries() -> list[Any]:
    database = CollectorRegistry(auto_describe=True)
    database.register(DatabaseCollector())  # type: ignore[arg-type]
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return [merged, database]
    return [REGISTRY, database]


def exposition() -> bytes:
    return b"".join(generate_latest(registry) for registry in _registries())


def init_app(app: Any) -> None:
    from flask import Response, abort, g, request

    from provider import request_ids

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()
        g.request_id = request_ids.begin(request.headers.get("X-Request-Id"))

    @app.after_request
    def _count(response: Any) -> Any:
        started = g.pop("metrics_started", None)
        if started is not None and request.endpoint != "metrics":
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            LATENCY.labels(route, request.method).observe(time.perf_counter() - started)
            error_code = g.pop("error_code", None)
            if error_code:
                ERRORS.labels(error_code).inc()
        if g.get("request_id"):
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _forget_request_id(_: BaseException | None) -> None:
        request_ids.end()

    @app.get("/metrics", endpoint="metrics")
    def _metrics() -> Any:
        token = app.config.get("METRICS_TOKEN")
        if not token:
            abort(404)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            abort(401)
        return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a dead worker's live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
