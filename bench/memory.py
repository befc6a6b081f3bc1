"""Resident memory: a web worker under load, and a bridge agent serving 50 virtual locks.

- Web: `provider serve` (PostgreSQL, the API fixture) under wrk on GET /locks and
  the codes list; every worker's RSS sampled from /proc every 0.2 s; the
  largest value is the figure. The bare Flask worker is measured the same way
  for scale.
- Agent: `firmware-bridge agent --backend virtual` serving 50 locks registered
  on one bridge, against a live `provider serve`, while commands (unlock, lock,
  put code) flow; its RSS sampled the same way.

    python -m bench.memory [--quick]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time

import requests

from bench.common import (
    Process,
    RssSampler,
    bare_flask_argv,
    base_env,
    children_of,
    main_for,
    postgres_available,
    postgres_database,
    provider_serve_argv,
    row,
    rss_mb,
    served,
    wrk,
)

NAME = "memory"
AGENT_LOCKS = 50


def worker_rss(argv: list[str], env: dict[str, str], paths: list[str], headers: dict[str, str],
               seconds: float) -> tuple[float | None, float | None, int]:
    """(idle worker RSS, peak worker RSS under load, workers) in MB."""
    with served("server", argv, env) as (proc, url):
        time.sleep(1.0)
        workers = children_of(proc.pid)
        idle = max((rss_mb(pid) or 0.0) for pid in workers) if workers else None
        with RssSampler(lambda: children_of(proc.pid)) as sampler:
            wrk(url + paths[0], duration=seconds, connections=16, headers=headers, paths=paths)
        return idle, sampler.max_mb, len(workers)


def measure_web(quick: bool) -> list[dict]:
    seconds = 5 if quick else 20
    rows = []
    idle, peak, n = worker_rss(bare_flask_argv(), base_env(), ["/locks"], {}, seconds)
    rows.append(row(NAME, "bare Flask worker RSS under load", round(peak or 0, 1), "MB",
                    note=f"idle {idle:.1f} MB; max of {n} workers; its master imports provider.web_server "
                         "(for the same gunicorn options), so the workers carry those modules too"))
    reason = postgres_available()
    if reason:
        rows.append(row(NAME, "provider web worker RSS under load", None, note=reason))
        return rows
    from bench.fixtures import ApiFixture

    with postgres_database("bench_mem") as url:
        fixture = ApiFixture.create(url, locks=10, post_locks=1)
        env = base_env(DATABASE_URL=url, **fixture.server_env)
        paths = ["/locks"] + [f"/locks/{lock}/access_codes" for lock in fixture.lock_ids]
        idle, peak, n = worker_rss(provider_serve_argv(), env, paths,
                                   {"Authorization": f"Bearer {fixture.token}"}, seconds)
    rows.append(row(NAME, "provider web worker RSS under load", round(peak or 0, 1), "MB", "<= 80",
                    note=f"idle {idle:.1f} MB; max of {n} workers; GET /locks + codes lists"))
    return rows


def measure_agent(quick: bool) -> list[dict]:
    if shutil.which("firmware-bridge") is None and not _module_runs("firmware_bridge.cli"):
        return [row(NAME, f"bridge agent RSS ({AGENT_LOCKS} virtual locks)", None,
                    note="firmware-bridge agent not available yet (issue 6)")]
    try:
        from firmware_bridge.agent import agent  # noqa: F401
    except ImportError as err:
        return [row(NAME, f"bridge agent RSS ({AGENT_LOCKS} virtual locks)", None,
                    note=f"bridge agent not importable yet (issue 6): {err}")]
    reason = postgres_available()
    if reason:
        return [row(NAME, f"bridge agent RSS ({AGENT_LOCKS} virtual locks)", None, note=reason)]
    from bench.fixtures import AgentFixture

    seconds = 15 if quick else 45
    with postgres_database("bench_agent") as url:
        fixture = AgentFixture.create(url, locks=AGENT_LOCKS)
        env = base_env(DATABASE_URL=url, **fixture.server_env)
        with served("provider", provider_serve_argv(), env) as (_, base_url), \
                tempfile.TemporaryDirectory() as state_dir:
            agent = Process("agent", [
                sys.executable, "-m", "firmware_bridge.cli", "agent", "--provider-url", base_url,
                "--backend", "virtual", "--state-dir", state_dir,
            ], base_env(FIRMWARE_BRIDGE_TOKEN=fixture.bridge_token)).start()
            try:
                with RssSampler(lambda: [agent.pid] + children_of(agent.pid)) as sampler:
                    done = fixture.drive(base_url, seconds)
                    idle_after = rss_mb(agent.pid)
                if not agent.alive():
                    raise RuntimeError(f"agent exited:\n{agent.log_tail()}")
            finally:
                agent.stop()
    return [
        row(NAME, f"bridge agent RSS ({AGENT_LOCKS} virtual locks)", round(sampler.max_mb or 0, 1), "MB",
            "<= 150", note=f"{done} commands completed while sampling; {idle_after or 0:.1f} MB at the end"),
    ]


def _module_runs(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def run(quick: bool = False) -> list[dict]:
    rows = measure_web(quick)
    try:
        rows += measure_agent(quick)
    except (RuntimeError, requests.RequestException) as err:
        rows.append(row(NAME, f"bridge agent RSS ({AGENT_LOCKS} virtual locks)", None,
                        note=f"failed: {str(err)[:200]}"))
    return rows


if __name__ == "__main__":
    main_for(run)
