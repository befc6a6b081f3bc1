"""The checks, one module per area. MODULES is the execution order (import order registers)."""

from __future__ import annotations

import importlib

MODULES = ("health", "oauth", "webhooks", "locks", "actions", "access_codes", "offline_codes", "deliveries")


def load() -> None:
    for name in MODULES:
        importlib.import_module(f"certify.checks.{name}")
