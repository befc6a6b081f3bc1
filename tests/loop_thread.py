"""An asyncio event loop on its own thread, for servers a test drives from its synchronous body."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Future[Any]:
        """Schedules `coro` on the loop; `.result(timeout)` waits for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def until(self, condition: Any, timeout: float = 30) -> None:
        """Waits, on the loop, until `condition()` is true."""

        async def _wait() -> None:
            while not condition():
                await asyncio.sleep(0.01)

        self.run(asyncio.wait_for(_wait(), timeout)).result(timeout + 5)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
