"""API throughput and latency, side by side with bare Flask.

Both servers run as `provider serve` runs (gunicorn, gthread, same workers and
threads); wrk loads them from its own process. For each endpoint: the peak
(closed loop, 16 connections), then a paced run at half of that peak for p50/p99.

    python -m bench.api [--quick]
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import (
    THREADS,
    WORKERS,
    bare_flask_argv,
    base_env,
    main_for,
    paced,
    postgres_available,
    postgres_database,
    provider_serve_argv,
    row,
    served,
    skipped,
    wrk,
)

NAME = "api"
PEAK_CONNECTIONS = 16
PACED_CONNECTIONS = 8


def _measure(label: str, base_url: str, path: str, quick: bool, p99_target: str | None = None,
             **kwargs: Any) -> tuple[list[dict], Any]:
    """Peak, then half of peak; rows for both. kwargs go to wrk (method, headers, body, paths)."""
    seconds = 3 if quick else 10
    wrk(base_url + path, duration=2, connections=PEAK_CONNECTIONS, **kwargs)  # warm-up
    peak = wrk(base_url + path, duration=seconds, connections=PEAK_CONNECTIONS, **kwargs)
    half = paced(base_url + path, max(1.0, peak.rps / 2), duration=seconds,
                 connections=PACED_CONNECTIONS, **kwargs)
    statuses = {k: peak.statuses.get(k, 0) + half.statuses.get(k, 0) for k in {*peak.statuses, *half.statuses}}
    by_status = f" {statuses}" if statuses else ""
    errors = (f"{peak.non_2xx + half.non_2xx} HTTP errors{by_status}, "
              f"{peak.socket_errors + half.socket_errors} socket errors")
    rows = [
        row(NAME, f"{label}: peak throughput", round(peak.rps), "req/s", note=errors),
        row(NAME, f"{label}: p99 at peak ({PEAK_CONNECTIONS} conns)", round(peak.p99_ms, 2), "ms"),
        row(NAME, f"{label}: paced at half of peak", round(half.rps), "req/s"),
        row(NAME, f"{label}: p50 at half of peak", round(half.p50_ms, 2), "ms"),
        row(NAME, f"{label}: p99 at half of peak", round(half.p99_ms, 2), "ms", p99_target),
    ]
    return rows, (peak, half)


def measure_bare(quick: bool) -> tuple[list[dict], Any]:
    with served("bare-flask", bare_flask_argv(), base_env()) as (_, url):
        return _measure("bare Flask jsonify GET /locks", url, "/locks", quick)


def measure_provider(quick: bool, database_url: str) -> tuple[list[dict], Any]:
    from bench.fixtures import ApiFixture

    fixture = ApiFixture.create(database_url, locks=10)
    env = base_env(DATABASE_URL=database_url, **fixture.server_env)
    rows: list[dict] = []
    results: dict[str, Any] = {}
    with served("provider", provider_serve_argv(), env) as (_, url):
        auth = {"Authorization": f"Bearer {fixture.token}"}
        lock = fixture.lock_ids[0]
        got, results["locks"] = _measure("provider GET /locks (10 locks)", url, "/locks", quick,
                                         p99_target="<= 25", headers=auth)
        rows += got
    # The same list with the per-worker caches off: the cold path every first read takes.
    with served("provider-cold", provider_serve_argv(), {**env, "PROVIDER_READ_CACHE": "off"}) as (_, url):
        got, results["locks_cold"] = _measure("provider GET /locks (10 locks), caches off", url, "/locks",
                                              quick, headers=auth)
        rows += got
    with served("provider", provider_serve_argv(), env) as (_, url):
        got, _ = _measure(f"provider GET /locks/<id>/access_codes ({fixture.codes_per_lock} codes)",
                          url, f"/locks/{lock}/access_codes", quick, headers=auth)
        rows += got
        body = json.dumps({"name": "Bench {n}", "code": "{pin}"})
        paths = [f"/locks/{lock_id}/access_codes" for lock_id in fixture.post_lock_ids]
        got, _ = _measure(f"provider POST /locks/<id>/access_codes (cycling {len(paths)} locks)",
                          url, paths[0], quick, method="POST", body=body, paths=paths,
                          headers={"Authorization": f"Bearer {fixture.post_token}"})
        rows += got
    return rows, results


def run(quick: bool = False) -> list[dict]:
    rows = [row(NAME, "serving", f"gunicorn gthread, {WORKERS} workers x {THREADS} threads; wrk 1 thread")]
    bare_rows, (bare_peak, _) = measure_bare(quick)
    rows += bare_rows
    reason = postgres_available()
    if reason:
        return rows + skipped(NAME, reason)
    try:
        import bench.fixtures  # noqa: F401
    except ImportError as err:
        return rows + skipped(NAME, f"provider side not measurable yet: {err}")
    with postgres_database("bench_api") as database_url:
        provider_rows, results = measure_provider(quick, database_url)
    rows += provider_rows
    peak, _ = results["locks"]
    rows.append(row(NAME, "GET /locks: provider / bare Flask throughput", round(peak.rps / bare_peak.rps, 3),
                    "x", ">= 0.5"))
    cold, _ = results["locks_cold"]
    rows.append(row(NAME, "GET /locks, caches off: provider / bare Flask throughput",
                    round(cold.rps / bare_peak.rps, 3), "x", ">= 0.3"))
    return rows


if __name__ == "__main__":
    main_for(run)
