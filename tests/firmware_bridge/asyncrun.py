"""Running an asyncio scenario from a plain test: bounded, and strict about swallowed errors."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any


def run_bounded(scenario: Callable[[], Awaitable[None]], timeout: float) -> None:
    """Run ``scenario()`` within ``timeout`` s; fail on any error the loop only logged
    (an exception nobody retrieved, a callback that raised)."""
    problems: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: problems.append(context)
        )
        await asyncio.wait_for(scenario(), timeout)

    asyncio.run(main())
    gc.collect()  # "exception was never retrieved" is reported when a future is freed
    assert not problems, problems
