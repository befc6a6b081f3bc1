"""Which firmware a virtual lock runs: the Python state machine or the C core.

``python`` (the default) is `VirtualLock` behind the Python sans-IO protocol;
``c`` is `CLock`, the C firmware core of ``firmware/`` behind its own protocol
code. ``FIRMWARE_BRIDGE_LOCK_ENGINE`` sets the default for processes started
by others (the sandbox's bridge agents).
"""

from __future__ import annotations

import os
from typing import Any

from firmware_bridge.protocol.crypto import parse_device_key
from firmware_bridge.simulator.lock import VirtualLock

ENGINES = ("python", "c")
ENGINE_ENV = "FIRMWARE_BRIDGE_LOCK_ENGINE"


def default_engine() -> str:
    engine = os.environ.get(ENGINE_ENV, "python").strip().lower() or "python"
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={engine!r}: choose one of {', '.join(ENGINES)}")
    return engine


def new_lock(engine: str | None, *, device_key: bytes | str, **kwargs: Any) -> Any:
    """A fresh virtual lock running ``engine``."""
    engine = engine or default_engine()
    if engine == "c":
        from firmware_bridge.simulator.c_engine import CLock

        return CLock(device_key=parse_device_key(device_key), **kwargs)
    if engine != "python":
        raise ValueError(f"unknown lock engine {engine!r}")
    return VirtualLock(**kwargs)


def lock_from_dict(data: dict[str, Any], *, device_key: bytes | str) -> Any:
    """A lock restored from ``to_dict()`` output, on the engine that saved it."""
    if data.get("engine") == "c":
        from firmware_bridge.simulator.c_engine import CLock

        return CLock.from_dict(data, device_key=parse_device_key(device_key))
    return VirtualLock.from_dict(data)


def engine_of(lock: Any) -> str:
    return str(getattr(lock, "engine", "python"))


def peripheral_class(lock: Any) -> Any:
    from firmware_bridge.simulator.peripheral import CLockPeripheral, VirtualLockPeripheral

    return CLockPeripheral if engine_of(lock) == "c" else VirtualLockPeripheral
