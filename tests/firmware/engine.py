"""Skip (or, with REQUIRE_FIRMWARE=1 as in CI, fail) when the C core cannot be built here."""

from __future__ import annotations

import os

import pytest


def require_c_engine() -> None:
    from firmware_bridge.simulator.c_engine import EngineUnavailable, load_library

    try:
        load_library()
    except (EngineUnavailable, OSError) as err:
        if os.environ.get("REQUIRE_FIRMWARE") == "1":
            pytest.fail(f"REQUIRE_FIRMWARE=1 but the C core is unavailable: {err}")
        pytest.skip(f"the C firmware core is unavailable: {err}")
