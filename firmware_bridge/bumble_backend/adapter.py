"""The central side of the Bumble backend: one Bumble host stack and its controller.

A `BumbleAdapter` plays the part BlueZ plays for bleak's default backend on
Linux: it owns the HCI transport (a USB dongle, a TCP HCI bridge, or a
software controller on Bumble's in-process link), runs Bumble's host stack
(HCI, L2CAP, ATT, GATT) on it, and multiplexes scans and connections for the
bleak clients and scanners built on it.  Connections to several locks share
it, the way several `BleakClient`s share `hci0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bumble import core, hci
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from firmware_bridge.bumble_backend.virtual_radio import VirtualController, VirtualLink

_LOGGER = logging.getLogger(__name__)

# Address of the bridge's own (central) controller on the virtual link.  Static
# random addresses have their two top bits set.
DEFAULT_CENTRAL_ADDRESS = "F0:00:00:00:00:01"
# Scan parameters for the central: 60 ms windows every 60 ms, i.e. continuous
# scanning, as BlueZ does while a discovery is active.
SCAN_INTERVAL_MS = 60.0
SCAN_WINDOW_MS = 60.0

# An advertisement younger than this proves the peripheral connectable now;
# older, the adapter listens for a fresh one before it tries to connect.
FRESH_ADVERTISEMENT = 0.5

AdvertisementListener = Callable[[Advertisement], None]


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """`BLEDevice.details` for devices found through a `BumbleAdapter`."""

    adapter: BumbleAdapter
    address: hci.Address


@dataclass(frozen=True)
class CachedService:
    """A service's layout as discovered once, for the services cache."""

    uuid: bytes  # Bumble's little-endian UUID bytes
    handle: int
    end_group_handle: int
    characteristics: tuple[CachedCharacteristic, ...]


@dataclass(frozen=True)
class CachedCharacteristic:
    uuid: bytes
    handle: int
    end_group_handle: int
    properties: int
    descriptors: tuple[tuple[int, bytes], ...]  # (handle, uuid bytes)


def address_key(address: str | hci.Address) -> str:
    """Addresses as bleak shows them: upper-case hex, colon separated, no type suffix."""
    if isinstance(address, hci.Address):
        return address.to_string(with_type_qualifier=False).upper()
    return address.split("/")[0].upper()


class BumbleAdapter:
    """A Bumble host stack in central role, shared by bleak clients and scanners."""

    def __init__(self, device: Device, *, transport: Any = None, name: str = "bumble") -> None:
        self.device = device
        self.name = name
        self._transport = transport
        self._listeners: dict[object, AdvertisementListener] = {}
        self._scan_lock = asyncio.Lock()
        # The HCI "LE Create Connection" procedure allows one pending connection
        # per controller, so connection attempts from different clients queue here.
        self._connect_lock = asyncio.Lock()
        self._seen: dict[str, Advertisement] = {}
        self._seen_at: dict[str, float] = {}  # loop time of the last advertisement
        self._services_cache: dict[str, tuple[CachedService, ...]] = {}
        self._closed = False
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)

    # -- construction ---------------------------------------------------------

    @classmethod
    async def open(
        cls, transport_spec: str, *, address: str = DEFAULT_CENTRAL_ADDRESS
    ) -> BumbleAdapter:
        """Open a Bumble transport (``usb:0``, ``tcp-client:127.0.0.1:9000``, ...)."""
        from bumble.transport import open_transport

        transport = await open_transport(transport_spec)
        try:
            device = Device.with_hci(
                "firmware-bridge", hci.Address(address), transport.source, transport.sink
            )
            adapter = cls(device, transport=transport, name=transport_spec)
            await device.power_on()
        except BaseException:
            await transport.close()
            raise
        return adapter

    @classmethod
    async def on_link(
        cls, link: VirtualLink, *, address: str = DEFAULT_CENTRAL_ADDRESS
    ) -> BumbleAdapter:
        """A central on Bumble's in-process link (a software controller, no radio)."""
        controller = VirtualController(f"central-{address}", link=link)
        device = Device(
            name="firmware-bridge",
            address=hci.Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        adapter = cls(device, transport=None, name=f"virtual:{address}")
        await device.power_on()
        return adapter

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), 2.0)
        with contextlib.suppress(Exception):
            if self.device.is_scanning:
                await self.device.stop_scanning()
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self.device.power_off()
            await self._transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- scanning ---------------------------------------------------------------

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        key = address_key(advertisement.address)
        self._seen[key] = advertisement
        self._seen_at[key] = asyncio.get_running_loop().time()
        for listener in list(self._listeners.values()):
            try:
                listener(advertisement)
            except Exception:  # a broken listener must not stop the others
                _LOGGER.exception("%s: advertisement listener failed", self.name)

    async def add_scan_listener(
        self, token: object, listener: AdvertisementListener, *, active: bool = True
    ) -> None:
        """Start scanning (if not yet) and deliver every advertisement to ``listener``."""
        async with self._scan_lock:
            self._listeners[token] = listener
            if not self.device.is_scanning:
                await self.device.start_scanning(
                    active=active,
                    scan_interval=SCAN_INTERVAL_MS,
                    scan_window=SCAN_WINDOW_MS,
                    filter_duplicates=False,
                )

    async def remove_scan_listener(self, token: object) -> None:
        async with self._scan_lock:
            self._listeners.pop(token, None)
            if not self._listeners and self.device.is_scanning and not self._closed:
                await self.device.stop_scanning()

    def last_advertisement(self, address: str) -> Advertisement | None:
        return self._seen.get(address_key(address))

    async def find_address(
        self, address: str, timeout: float, *, fresh_within: float = math.inf
    ) -> hci.Address | None:
        """The typed HCI address of ``address`` once it advertises.

        An advertisement received less than ``fresh_within`` s ago counts;
        otherwise scan for up to ``timeout`` s.  None if nothing was heard.
        """
        key = address_key(address)
        loop = asyncio.get_running_loop()
        seen = self._seen.get(key)
        if seen is not None and loop.time() - self._seen_at.get(key, -math.inf) <= fresh_within:
            return seen.address
        found: asyncio.Future[hci.Address] = loop.create_future()

        def listener(advertisement: Advertisement) -> None:
            if address_key(advertisement.address) == key and not found.done():
                found.set_result(advertisement.address)

        token = object()
        await self.add_scan_listener(token, listener)
        try:
            return await asyncio.wait_for(found, timeout)
        except TimeoutError:
            return None
        finally:
            await self.remove_scan_listener(token)

    # -- connecting -------------------------------------------------------------

    async def connect(self, address: hci.Address, timeout: float) -> Connection:
        """Connect to a peripheral; raises `TimeoutError` if it is not advertising.

        The HCI procedure is never abandoned half-way: if the caller is
        cancelled, the attempt is cancelled in the controller too, and a
        connection that still completes is dropped, so the next attempt does
        not find the controller busy.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Wait for the peripheral to advertise before taking the controller's one
        # connection slot: a lock that is away must not hold up connections to
        # the others for a whole timeout.
        heard = await self.find_address(
            address_key(address), timeout, fresh_within=FRESH_ADVERTISEMENT
        )
        if heard is None:
            raise TimeoutError(
                f"{address_key(address)}: not advertising (nothing heard in {timeout} s)"
            )
        async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
            await self._connect_lock.acquire()
        remaining = max(deadline - loop.time(), 0.05)
        attempt = asyncio.ensure_future(self.device.connect(heard, timeout=remaining))
        attempt.add_done_callback(lambda _: self._connect_lock.release())
        try:
            return await asyncio.shield(attempt)
        except core.TimeoutError as err:
            raise TimeoutError(f"{address_key(address)}: no connection within {timeout} s") from err
        except asyncio.CancelledError:
            attempt.add_done_callback(_drop_orphan_connection)
            if not attempt.done():
                cancel = asyncio.ensure_future(self._cancel_connect())
                cancel.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise

    async def _cancel_connect(self) -> None:
        with contextlib.suppress(core.BaseBumbleError, hci.HCI_Error, TimeoutError):
            await self.device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())

    # -- services cache -----------------------------------------------------------

    def cached_services(self, address: str) -> tuple[CachedService, ...] | None:
        return self._services_cache.get(address_key(address))

    def cache_services(self, address: str, services: tuple[CachedService, ...]) -> None:
        self._services_cache[address_key(address)] = services

    def clear_services_cache(self, address: str) -> bool:
        return self._services_cache.pop(address_key(address), None) is not None


def _drop_orphan_connection(attempt: asyncio.Future[Connection]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    connection = attempt.result()
    _LOGGER.debug("%s: dropping a connection nobody waits for", connection.peer_address)
    task = asyncio.ensure_future(connection.disconnect())
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


_default_adapter: BumbleAdapter | None = None


def set_default_adapter(adapter: BumbleAdapter | None) -> None:
    """The adapter used by Bumble clients/scanners created without ``adapter=``."""
    global _default_adapter
    _default_adapter = adapter


def get_default_adapter() -> BumbleAdapter | None:
    return _default_adapter


def resolve_adapter(explicit: BumbleAdapter | None) -> BumbleAdapter:
    """``explicit`` or the default adapter; a `BleakError` if there is neither."""
    from bleak.exc import BleakError

    adapter = explicit or _default_adapter
    if adapter is None:
        raise BleakError("no Bumble adapter: pass bumble_adapter= or call set_default_adapter()")
    return adapter
