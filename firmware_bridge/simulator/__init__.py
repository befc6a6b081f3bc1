"""The virtual lock: its state machine (``lock``) and, next to it, the GATT peripheral."""

from __future__ import annotations

from .lock import Faults, VirtualLock

__all__ = ["Faults", "VirtualLock"]
