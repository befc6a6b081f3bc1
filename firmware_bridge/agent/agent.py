"""The bridge agent: ties the provider's command queue to the locks this gateway serves.

Tasks: the long-poll loop (commands -> per-lock workers), the reporter
(results, retried until confirmed, journalled), the heartbeat loop, a lock
list refresh, and one `LockWorker` per lock.  `run_agent()` wires them to a
backend and to SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import bridge_contract as contract
from firmware_bridge.agent.config import AgentConfig
from firmware_bridge.agent.journal import Journal
from firmware_bridge.agent.model import Command, LockConnector, LockInfo, Result
from firmware_bridge.agent.provider_api import Backoff, ProviderApi, ProviderError, Unauthorized
from firmware_bridge.agent.worker import Hooks, LockWorker, utcnow

_LOGGER = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0  # seconds given to in-flight result reports on SIGTERM
#: Seconds a lock operation under way gets to finish on SIGTERM (a bolt move takes 1-2 s).
WORKER_STOP_GRACE = 5.0


class Backend(Protocol):
    """Where locks live: real radios (bleak) or virtual locks inside this process."""

    async def start(self, locks: list[LockInfo], poke: Callable[[str], None]) -> LockConnector: ...

    async def locks_changed(self, locks: list[LockInfo]) -> None: ...

    async def close(self) -> None: ...


def make_api(config: AgentConfig) -> ProviderApi:
    """The transport: only how the agent's calls travel differs, never what the agent does."""
    if config.transport == "mqtt":
        from firmware_bridge.agent.mqtt_api import MqttProviderApi

        return MqttProviderApi(config.api_url, config.bridge_token, config.mqtt_url, timeout=config.http_timeout,
                               retry_max=config.retry_max, reconnect_spread=config.reconnect_spread,
                               protocol=config.mqtt_protocol)
    return ProviderApi(config.api_url, config.bridge_token, config.http_timeout, config.retry_max)


class Agent:
    def __init__(self, config: AgentConfig, backend: Backend, api: ProviderApi | None = None,
                 journal: Journal | None = None, now: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.backend = backend
        self.api = api or make_api(config)
        self.journal = journal or Journal(config.state_dir / "journal.sqlite3")
        self._now = now
        self.bridge_id = ""
        self.workers: dict[str, LockWorker] = {}
        self._worker_tasks: dict[str, asyncio.Task[None]] = {}
        self._reports: set[asyncio.Task[None]] = set()
        self._reporting: set[str] = set()
        self._heartbeat_due = asyncio.Event()
        self._connector: LockConnector | None = None
        self.ready = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        locks = await self._initial_locks(stop)
        if locks is None:
            return
        self._connector = await self.backend.start(locks, self.poke)
        for lock in locks:
            self._add_worker(lock)
        for entry in self.journal.unreported():  # results a previous run could not deliver
            self._report(entry.command_id, entry.result or Result.ok())
        tasks = [asyncio.create_task(coro, name=name) for name, coro in (
            ("poll", self._poll_loop()), ("heartbeat", self._heartbeat_loop()),
            ("locks", self._locks_loop()))]
        self.ready.set()
        _LOGGER.info("bridge %s serving %d lock(s) via %s backend", self.bridge_id, len(locks),
                     self.config.backend)
        try:
            await stop.wait()
        finally:
            _LOGGER.info("stopping")
            for task in tasks:
                task.cancel()
            for worker in self.workers.values():
                worker.stop()
            if self._worker_tasks:  # operations under way finish, within bounds
                await asyncio.wait(self._worker_tasks.values(), timeout=WORKER_STOP_GRACE)
            for task in self._worker_tasks.values():
                task.cancel()
            await asyncio.gather(*tasks, *self._worker_tasks.values(), return_exceptions=True)
            if self._reports:
                await asyncio.wait(self._reports, timeout=SHUTDOWN_GRACE)
            await self.backend.close()
            await self.api.aclose()
            self.journal.close()
            _LOGGER.info("stopped")

    async def _initial_locks(self, stop: asyncio.Event) -> list[LockInfo] | None:
        backoff = Backoff(ceiling=self.config.retry_max)
        while not stop.is_set():
            try:
                self.bridge_id, locks = await self.api.locks()
                return locks
            except Unauthorized as err:
                _LOGGER.error("%s: check the bridge token (provider bridges create prints it)", err)
            except ProviderError as err:
                # The sandbox starts us next to the web server: the first misses are expected.
                log = _LOGGER.warning if backoff.failures >= 4 else _LOGGER.info
                log("provider not reachable yet: %s", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next_delay())
        return None

    def _add_worker(self, lock: LockInfo) -> None:
        assert self._connector is not None
        hooks = Hooks(report=lambda command, result: self._report(command.command_id, result),
                      heartbeat_now=self.send_heartbeat, status_changed=self._heartbeat_due.set)
        worker = LockWorker(lock, self._connector, self.api, self.journal, self.config, hooks, self._now)
        self.workers[lock.lock_id] = worker
        self._worker_tasks[lock.lock_id] = asyncio.create_task(worker.run(), name=f"lock {lock.name}")

    def poke(self, lock_id: str) -> None:
        worker = self.workers.get(lock_id)
        if worker is not None:
            worker.poke()

    # ------------------------------------------------------------------ results
    def _report(self, command_id: str, result: Result) -> None:
        if command_id in self._reporting:
            return
        self._reporting.add(command_id)
        task = asyncio.create_task(self._deliver_result(command_id, result), name=f"report {command_id}")
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _deliver_result(self, command_id: str, result: Result) -> None:
        try:
            answer = await self.api.report_result(command_id, result.to_api())
            if answer.get("duplicate"):
                _LOGGER.info("result of %s was already recorded", command_id)
        except ProviderError as err:  # not retryable: the provider will never take it
            _LOGGER.error("result of %s refused: %s; dropping it", command_id, err)
        finally:
            self._reporting.discard(command_id)
        self.journal.mark_reported(command_id)

    # ------------------------------------------------------------------ loops
    async def _poll_loop(self) -> None:
        backoff = Backoff(ceiling=self.config.retry_max)
        # Until one poll succeeds, this agent holds nothing: commands leased to
        # the bridge belong to a predecessor that died, and are taken back at once.
        resume = True
        while True:
            try:
                commands = await self.api.commands(self.config.poll_wait, resume=resume)
            except ProviderError as err:
                delay = backoff.next_delay()
                log = _LOGGER.error if isinstance(err, Unauthorized) else _LOGGER.warning
                log("polling for commands: %s; retrying in %.1f s", err, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            resume = False
            for command in commands:
                await self._dispatch(command)

    async def _dispatch(self, command: Command) -> None:
        worker = self.workers.get(command.lock_id)
        if worker is None:
            await self._refresh_locks()
            worker = self.workers.get(command.lock_id)
        if worker is None:
            _LOGGER.error("command %s for lock %s, which this bridge does not serve",
                          command.command_id, command.lock_id)
            self._report(command.command_id, Result.failed(contract.DEVICE_OFFLINE, "lock not served by this bridge"))
            return
        worker.submit(command)

    async def _heartbeat_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_due.wait(), self.config.heartbeat_interval)
            self._heartbeat_due.clear()
            try:
                await self.send_heartbeat()
            except ProviderError as err:
                _LOGGER.warning("heartbeat: %s", err)

    async def send_heartbeat(self) -> None:
        entries = [entry for worker in self.workers.values() if (entry := worker.heartbeat_entry())]
        await self.api.heartbeat(entries)

    async def _locks_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.locks_refresh)
            try:
                await self._refresh_locks()
            except ProviderError as err:
                _LOGGER.warning("refreshing the lock list: %s", err)

    async def _refresh_locks(self) -> None:
        try:
            _, locks = await self.api.locks()
        except ProviderError as err:
            _LOGGER.warning("refreshing the lock list: %s", err)
            return
        await self.backend.locks_changed(locks)
        served = {lock.lock_id for lock in locks}
        for lock in locks:
            if lock.lock_id in self.workers:
                self.workers[lock.lock_id].update_info(lock)
            else:
                _LOGGER.info("%s: new lock", lock.name)
                self._add_worker(lock)
        for lock_id in [lock_id for lock_id in self.workers if lock_id not in served]:
            _LOGGER.info("%s: no longer served by this bridge", self.workers[lock_id].lock.name)
            self._worker_tasks.pop(lock_id).cancel()
            del self.workers[lock_id]


async def run_agent(config: AgentConfig, backend: Backend) -> None:
    """Runs until SIGTERM or SIGINT; then stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await Agent(config, backend).run(stop)
