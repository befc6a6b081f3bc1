from __future__ import annotations

import asyncio

import pytest

from firmware_bridge.agent.agent import Agent
from firmware_bridge.agent.journal import Journal
from tests.firmware_bridge.agent.fakes import (
    FakeConnector,
    FakeLock,
    FakeProvider,
    agent_config,
    lock_info,
)


class FakeBackend:
    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector
        self.poke = None
        self.closed = False

    async def start(self, locks, poke):
        self.poke = poke
        return self.connector

    async def locks_changed(self, locks) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


class Harness:
    """An agent over fakes; `run(body)` starts it, runs `body(h)` and stops it cleanly."""

    def __init__(self, tmp_path, n_locks: int = 1, **config) -> None:
        self.tmp_path = tmp_path
        self.infos = [lock_info(n) for n in range(1, n_locks + 1)]
        self.fakes = {info.lock_id: FakeLock() for info in self.infos}
        self.connector = FakeConnector(self.fakes)
        self.provider = FakeProvider(self.infos)
        self.config = agent_config(tmp_path, **config)
        self.agent: Agent | None = None
        self.backend: FakeBackend | None = None

    @property
    def lock(self) -> FakeLock:
        return self.fakes["lock-1"]

    async def _run(self, body, stop_inside: bool = False) -> None:
        self.backend = FakeBackend(self.connector)
        self.agent = Agent(
            self.config,
            self.backend,
            api=self.provider,
            journal=Journal(self.tmp_path / "journal.sqlite3"),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(self.agent.run(stop))
        await asyncio.wait_for(self.agent.ready.wait(), 5)
        try:
            await body(self) if not stop_inside else await body(self, stop)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        assert self.backend.closed

    def run(self, body, stop_inside: bool = False) -> None:
        asyncio.run(asyncio.wait_for(self._run(body, stop_inside), 20))

    async def until(self, predicate, timeout: float = 5.0) -> None:
        await self.provider.wait_for(predicate, timeout)


@pytest.fixture
def harness(tmp_path):
    return lambda **kwargs: Harness(tmp_path, **kwargs)
