"""A local control channel: one JSON object per line over TCP on 127.0.0.1.

The virtual locks live inside the process that serves them (a test's world,
or the bridge agent); the keypad and fault-injection commands reach them
through this channel.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

# A control request is a few fields; anything longer is refused, not buffered.
LINE_LIMIT = 4096

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def serve_json_lines(handle: Handler, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Answers each request line with `handle(request)`; bad lines get {"ok": false, "error"}."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await _answer(handle, line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_client, host, port, limit=LINE_LIMIT * 2)


async def _answer(handle: Handler, line: bytes) -> dict[str, Any]:
    if len(line) > LINE_LIMIT:
        return {"ok": False, "error": "request too long"}
    try:
        request = json.loads(line)
    except json.JSONDecodeError as err:
        return {"ok": False, "error": f"bad JSON: {err}"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "expected a JSON object"}
    try:
        return await handle(request)
    except (ValueError, TypeError, KeyError) as err:
        return {"ok": False, "error": str(err)}


async def request_json_line(host: str, port: int, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Sends one request and returns the answer."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            answer: dict[str, Any] = json.loads(await reader.readline())
            return answer
        finally:
            writer.close()
