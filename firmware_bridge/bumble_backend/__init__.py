"""A bleak backend over Bumble's host stack (virtual link or a real controller).

    adapter = await BumbleAdapter.on_link(VirtualLink())      # tests, sandbox
    adapter = await BumbleAdapter.open("usb:0")               # bench dongle
    client = BleakClient(device, backend=BumbleClient, bumble_adapter=adapter)
    scanner = BleakScanner(backend=BumbleScanner, bumble_adapter=adapter)

`VirtualWorld` (firmware_bridge.bumble_backend.world) hosts virtual locks and
the central on one link.
"""

from __future__ import annotations

from firmware_bridge.bumble_backend.adapter import (
    BumbleAdapter,
    BumbleDeviceDetails,
    get_default_adapter,
    set_default_adapter,
)
from firmware_bridge.bumble_backend.bleak_backend import BumbleClient
from firmware_bridge.bumble_backend.scanner import BumbleScanner
from firmware_bridge.bumble_backend.virtual_radio import VirtualController, VirtualLink

__all__ = [
    "BumbleAdapter",
    "BumbleClient",
    "BumbleDeviceDetails",
    "BumbleScanner",
    "VirtualController",
    "VirtualLink",
    "get_default_adapter",
    "set_default_adapter",
]
