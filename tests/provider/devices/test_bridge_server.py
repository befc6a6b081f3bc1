"""The asyncio bridge server: many parked long-polls hold no thread, and every answer is the Flask app's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from provider.bridge_api.server import BridgeServer
from provider.extensions import db
from provider.services import actions, commands, rate_limits
from tests.loop_thread import LoopThread
from tests.provider.devices.conftest import make_site

THREADS = 4
POLLS = 150  # far more than the server's threads


class Running(LoopThread):
    """A BridgeServer on its own event loop thread."""

    def __init__(self, server: BridgeServer) -> None:
        super().__init__()
        self.server = server
        self.port = self.run(server.start()).result(20)
        self.url = f"http://127.0.0.1:{self.port}"

    def parked_at_least(self, count: int, timeout: float = 30) -> None:
        self.until(lambda: self.server.parked >= count, timeout)

    def close(self) -> None:
        self.run(self.server.stop()).result(20)
        super().close()


@pytest.fixture
def running(app) -> Iterator[Running]:
    # Polls here wait up to 20 s (the suite's 2 s cap would end them before all have parked).
    cap = app.config["BRIDGE_POLL_MAX_SECONDS"]
    app.config["BRIDGE_POLL_MAX_SECONDS"] = 20.0
    running = Running(BridgeServer(app, threads=THREADS))
    yield running
    running.close()
    app.config["BRIDGE_POLL_MAX_SECONDS"] = cap


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with session.get(url, headers=headers) as response:
        return response.status, await response.json()


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def _poll(running: Running, token: str, wait: int = 20) -> tuple[int, Any]:
    async with _session() as session:
        return await _get(session, f"{running.url}/bridge/v1/commands?wait={wait}", _bearer(token))


def test_health_and_locks_answer_while_many_polls_are_parked(app, running, account, make_token):
    sites = [make_site(app, account, count=1) for _ in range(3)]
    seam = _bearer(make_token(account))
    url = running.url

    async def scenario() -> dict[str, Any]:
        async with _session() as session:
            polls = [
                asyncio.create_task(_get(session, f"{url}/bridge/v1/commands?wait=20", _bearer(site.token)))
                for site in sites for _ in range(POLLS // len(sites))
            ]
            while running.server.parked < len(polls):
                await asyncio.sleep(0.01)
            health = await _get(session, f"{url}/health", {})
            seam_locks = await _get(session, f"{url}/locks", seam)
            still_waiting = sum(not poll.done() for poll in polls)
            for poll in polls:
                poll.cancel()
            await asyncio.gather(*polls, return_exceptions=True)
            return {"health": health, "locks": seam_locks, "still_waiting": still_waiting, "polls": len(polls)}

    outcome = running.run(scenario()).result(60)
    assert outcome["health"][0] == 200
    status, body = outcome["locks"]
    assert status == 200 and len(body["locks"]) == 3
    assert outcome["still_waiting"] == outcome["polls"]


def test_a_parked_poll_gets_a_command_queued_after_it_parked(app, running, account):
    site = make_site(app, account, count=1)

    future = running.run(_poll(running, site.token))
    running.parked_at_least(1)
    actions.request_action(account.id, site.lock_ids[0], "unlock", limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    status, body = future.result(20)
    assert status == 200
    assert [command["type"] for command in body["commands"]] == ["unlock"]
    assert site.helper.poll() == []  # leased to the parked poll, not handed out twice


def test_a_commit_nobody_announced_is_found_by_the_tick(app, running, account):
    """A command committed where this server hears no wake-up (another process on SQLite) still arrives."""
    site = make_site(app, account, count=1)

    future = running.run(_poll(running, site.token))
    running.parked_at_least(1)
    command = commands.enqueue(db.session.get(type(site.locks[0]), site.lock_ids[0]), "set_time", {},
                               idempotency_key="unannounced", ttl_seconds=60)
    db.session.info.pop("wakeups.pending", None)  # as if committed by a process whose wake-ups never reach here
    db.session.commit()
    status, body = future.result(20)
    assert status == 200 and [c["command_id"] for c in body["commands"]] == [command.id]


def test_a_lease_that_runs_out_wakes_a_parked_poll(app, running, account, frozen_clock):
    site = make_site(app, account, count=1)
    lock = site.locks[0]
    command = commands.enqueue(lock, "set_time", {}, idempotency_key="lease", ttl_seconds=3600)
    db.session.commit()
    assert [c["command_id"] for c in site.helper.poll()] == [command.id]  # leased, no result comes

    future = running.run(_poll(running, site.token))
    running.parked_at_least(1)
    frozen_clock.advance(commands.LEASE_SECONDS + 1)
    status, body = future.result(20)
    assert status == 200
    assert [(c["command_id"], c["attempt"]) for c in body["commands"]] == [(command.id, 2)]


def test_a_poll_that_waits_out_answers_empty(app, running, account):
    site = make_site(app, account, count=1)

    assert running.run(_poll(running, site.token, wait=1)).result(20) == (200, {"commands": []})


def test_errors_are_the_apps_documented_errors(app, running, account):
    site = make_site(app, account, count=1)

    async def calls() -> list[tuple[int, Any]]:
        async with _session() as session:
            return [
                await _get(session, f"{running.url}/bridge/v1/commands?wait=1", _bearer("brg_wrong")),
                await _get(session, f"{running.url}/bridge/v1/commands?wait=soon", _bearer(site.token)),
            ]

    (unauthorized, bad_wait) = running.run(calls()).result(20)
    assert unauthorized[0] == 401 and unauthorized[1]["error_code"] == "UNAUTHORIZED"
    assert bad_wait[0] == 400 and "error_code" in bad_wait[1]


def test_posts_run_the_same_services(app, running, account, events):
    """A result through the asyncio server completes the action exactly as through gunicorn."""
    site = make_site(app, account, count=1)
    action = actions.request_action(account.id, site.lock_ids[0], "unlock", limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    (command,) = site.helper.poll()

    async def report() -> list[tuple[int, Any]]:
        async with _session() as session:
            answers = []
            for _ in range(2):
                async with session.post(f"{running.url}/bridge/v1/commands/{command['command_id']}/result",
                                        json={"status": "succeeded"}, headers=_bearer(site.token)) as response:
                    answers.append((response.status, await response.json()))
            return answers

    first, second = running.run(report()).result(20)
    assert first == (200, {"ok": True, "duplicate": False})
    assert second == (200, {"ok": True, "duplicate": True})
    db.session.expire_all()
    assert actions.get_action(account.id, action.id).status == "success"
    assert [e.event_type for e in events(site.lock_ids[0])].count("lock.action_completed") == 1
