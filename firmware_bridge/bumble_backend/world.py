"""`VirtualWorld`: N virtual locks and the bridge's central on one Bumble link.

Everything runs in the current asyncio loop, with no radio: each lock is a
`VirtualLockPeripheral` with its own software controller, the bridge side is
one `BumbleAdapter`, and `LockClient`s reach the locks through bleak with the
Bumble backend::

    async with VirtualWorld() as world:
        address = (await world.add_lock(device_key=KEY)).address
        async with world.client(address) as client:
            await client.unlock()
        world.lock(address).enter_pin("482913")       # keypad
        world.lock(address).faults.jam_next = True    # fault injection

A small control hook lets another process drive the virtual locks (a
sandbox keypad command, for instance): `VirtualWorld.serve_control()` answers
one JSON object per line on a local TCP port, and `send_control()` is the
matching client.  Operations: ``list``, ``enter_pin`` (``pin``), ``program_code`` (``master``, ``pin``:
the keypad's master mode),
``manual_turn``, ``press_lock_button``, ``set_door`` (``state``),
``tamper``, ``set_battery`` (``percent``), ``fault`` (``name``, ``value``),
``refuse_advertising`` (``seconds``), ``status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice

from firmware_bridge.bumble_backend.adapter import (
    DEFAULT_CENTRAL_ADDRESS,
    BumbleAdapter,
    BumbleDeviceDetails,
    address_key,
)
from firmware_bridge.bumble_backend.virtual_radio import VirtualLink
from firmware_bridge.control_channel import request_json_line, serve_json_lines
from firmware_bridge.lock_client import BleBackend, LockClient
from firmware_bridge.protocol.const import DoorState, TamperKind
from firmware_bridge.simulator.engines import new_lock, peripheral_class
from firmware_bridge.simulator.lock import VirtualLock
from firmware_bridge.simulator.peripheral import (
    DEFAULT_ADVERTISING_INTERVAL_MS,
    VirtualLockPeripheral,
)

_LOGGER = logging.getLogger(__name__)

# Control requests larger than this are refused (one JSON object per line).


def virtual_lock_address(index: int) -> str:
    """A static random address for the ``index``-th virtual lock (two top bits set)."""
    return f"D0:4C:4B:00:{(index >> 8) & 0xFF:02X}:{index & 0xFF:02X}"


class VirtualWorld:
    """Hosts virtual locks and a central adapter on one in-process Bumble link."""

    def __init__(
        self,
        *,
        advertising_interval_ms: float = DEFAULT_ADVERTISING_INTERVAL_MS,
        central_address: str = DEFAULT_CENTRAL_ADDRESS,
    ) -> None:
        self.link = VirtualLink()
        self._advertising_interval_ms = advertising_interval_ms
        self._central_address = central_address
        self._adapter: BumbleAdapter | None = None
        self._peripherals: dict[str, VirtualLockPeripheral] = {}
        self._keys: dict[str, bytes | str] = {}
        self._control_server: asyncio.Server | None = None

    async def start(self) -> VirtualWorld:
        if self._adapter is None:
            self._adapter = await BumbleAdapter.on_link(self.link, address=self._central_address)
        return self

    async def close(self) -> None:
        if self._control_server is not None:
            self._control_server.close()
            with contextlib.suppress(Exception):
                await self._control_server.wait_closed()
            self._control_server = None
        if self._adapter is not None:
            await self._adapter.close()
        for peripheral in list(self._peripherals.values()):
            await peripheral.stop()
        self._peripherals.clear()

    async def __aenter__(self) -> VirtualWorld:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- locks ---------------------------------------------------------------------------

    async def add_lock(
        self,
        lock: VirtualLock | None = None,
        *,
        device_key: bytes | str | None = None,
        address: str | None = None,
        name: str | None = None,
        engine: str | None = None,
        **lock_kwargs: Any,
    ) -> VirtualLockPeripheral:
        """Start a virtual lock (a new one unless given) and return its peripheral.

        ``device_key`` defaults to a random key (read it back with `key()`);
        ``engine`` picks the firmware of a new lock (``python`` or ``c``, see
        `firmware_bridge.simulator.engines`).
        """
        index = len(self._peripherals) + 1
        address = address_key(address or virtual_lock_address(index))
        if address in self._peripherals:
            raise ValueError(f"a virtual lock already uses {address}")
        key = device_key if device_key is not None else os.urandom(16)
        if lock is None:
            lock = new_lock(engine, device_key=key, name=name or f"VL-{index:04d}", **lock_kwargs)
        peripheral = peripheral_class(lock).on_link(
            self.link,
            lock,
            key,
            address,
            name=name or lock.name,
            advertising_interval_ms=self._advertising_interval_ms,
        )
        await peripheral.start()
        self._peripherals[address] = peripheral
        self._keys[address] = key
        return peripheral

    async def remove_lock(self, address: str) -> None:
        peripheral = self._peripherals.pop(address_key(address))
        self._keys.pop(address_key(address), None)
        await peripheral.stop()

    @property
    def addresses(self) -> list[str]:
        return list(self._peripherals)

    def lock(self, address: str) -> VirtualLock:
        """The state machine of the lock at ``address`` (keypad, faults, state)."""
        return self.peripheral(address).lock

    def peripheral(self, address: str) -> VirtualLockPeripheral:
        try:
            return self._peripherals[address_key(address)]
        except KeyError:
            raise KeyError(f"no virtual lock at {address}") from None

    def key(self, address: str) -> bytes | str:
        return self._keys[address_key(address)]

    # -- the bridge side -----------------------------------------------------------------

    @property
    def adapter(self) -> BumbleAdapter:
        if self._adapter is None:
            raise RuntimeError("VirtualWorld.start() first")
        return self._adapter

    @property
    def backend(self) -> BleBackend:
        """What to give `LockClient(..., backend=)` (and bleak scanners/clients)."""
        return BleBackend.bumble(self.adapter)

    def ble_device(self, address: str) -> BLEDevice:
        """A `BLEDevice` for ``address``, as a scan would return it."""
        peripheral = self.peripheral(address)
        return BLEDevice(
            peripheral.address,
            peripheral.name,
            BumbleDeviceDetails(self.adapter, peripheral.device.random_address),
        )

    def scanner(self, **kwargs: Any) -> BleakScanner:
        """A `BleakScanner` on the world's central (use as ``async with``)."""
        return BleakScanner(**{**self.backend.scanner_kwargs(), **kwargs})

    def client(
        self, address: str, device_key: bytes | str | None = None, **kwargs: Any
    ) -> LockClient:
        """A `LockClient` for the lock at ``address`` (its own key unless given)."""
        key = device_key if device_key is not None else self.key(address)
        backend = kwargs.pop("backend", None) or self.backend
        return LockClient(self.ble_device(address), key, backend=backend, **kwargs)

    # -- control hook --------------------------------------------------------------------

    def handle_control(self, request: dict[str, Any]) -> dict[str, Any]:
        """Act on one control request (see the module docstring); never raises."""
        try:
            return {"ok": True, **self._control(request)}
        except (KeyError, ValueError, TypeError) as err:
            return {"ok": False, "error": str(err)}

    def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "list":
            return {
                "locks": [
                    {
                        "address": a,
                        "name": p.name,
                        "bolt": p.lock.bolt.name,
                        "door": p.lock.door.name,
                    }
                    for a, p in self._peripherals.items()
                ]
            }
        address = str(request["address"])
        lock = self.lock(address)
        event: Any = None
        if op == "enter_pin":
            event = lock.enter_pin(str(request["pin"]))
        elif op == "program_code":
            if not hasattr(lock, "program_at_keypad"):
                raise ValueError(f"the {getattr(lock, 'engine', '?')} engine has no keypad master mode")
            slot = lock.program_at_keypad(str(request["master"]), str(request["pin"]))
            return {"slot": slot, "event": None, "bolt": lock.bolt.name, "door": lock.door.name,
                    "battery_percent": lock.battery_percent}
        elif op == "manual_turn":
            event = lock.manual_turn()
        elif op == "press_lock_button":
            event = lock.press_lock_button()
        elif op == "set_door":
            event = lock.set_door(DoorState[str(request["state"]).upper()])
        elif op == "tamper":
            event = lock.tamper(TamperKind[str(request.get("kind", "case_opened")).upper()])
        elif op == "set_battery":
            lock.set_battery(float(request["percent"]))
        elif op == "fault":
            name = str(request["name"])
            if name.startswith("_") or not hasattr(lock.faults, name):
                raise ValueError(f"unknown fault {name!r}")
            current = getattr(lock.faults, name)
            # The opcode faults are None until armed; their value is an opcode (int).
            kind = int if current is None else type(current)
            setattr(lock.faults, name, kind(request["value"]))
        elif op == "refuse_advertising":
            self.peripheral(address).refuse_advertising(float(request["seconds"]))
        elif op != "status":
            raise ValueError(f"unknown op {op!r}")
        return {
            "event": type(event).__name__ if event is not None else None,
            "bolt": lock.bolt.name,
            "door": lock.door.name,
            "battery_percent": lock.battery_percent,
        }

    async def serve_control(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve `handle_control` as JSON lines on ``host:port``; returns the bound address."""

        async def handle(request: dict[str, Any]) -> dict[str, Any]:
            return self.handle_control(request)

        self._control_server = await serve_json_lines(handle, host, port)
        bound = self._control_server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])


async def send_control(
    host: str, port: int, request: dict[str, Any], timeout: float = 5.0
) -> dict[str, Any]:
    """Send one control request to a `VirtualWorld.serve_control` server."""
    return await request_json_line(host, port, request, timeout)
