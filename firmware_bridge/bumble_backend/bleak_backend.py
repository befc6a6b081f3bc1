"""`BumbleClient`: a bleak client backend that speaks through Bumble's host stack.

Use it with bleak's ``backend=`` argument::

    client = BleakClient(ble_device, backend=BumbleClient, bumble_adapter=adapter)

Everything above the backend (bleak's `BleakClient`, bleak-retry-connector,
our `LockClient`) is the code that runs against BlueZ on a gateway; below it
is Bumble's real HCI/L2CAP/ATT/GATT implementation, on a software controller
or on a USB dongle.  Bumble errors are translated into bleak's: ATT error
responses into `BleakGATTProtocolError`, everything else (including a link
that drops while an operation waits) into `BleakError`, never a hang and
never a stray `CancelledError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci
from bumble.device import Connection, Peer
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

from firmware_bridge.bumble_backend.adapter import (
    BumbleAdapter,
    BumbleDeviceDetails,
    CachedCharacteristic,
    CachedService,
    address_key,
    get_default_adapter,
    resolve_adapter,
)

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

# ATT MTU we ask for after connecting (BlueZ asks for 517; most lock SoCs
# accept 247, which fits one LE Data Length Extension packet).  Pass ``mtu=23``
# to keep the default MTU and exercise the protocol's smallest framing.
DEFAULT_MTU = 247
# Timeout for the implicit scan when the client is given an address string
# never seen in an advertisement (bleak's own default connect timeout is 30 s).
DEFAULT_TIMEOUT = 10.0


def _uuid_str(value: core.UUID) -> str:
    """Bumble UUID -> bleak's normalised lower-case 128-bit string."""
    return normalize_uuid_str(
        str(uuid_module.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))
    )


def _properties(value: int) -> list[Any]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if value & bit]


class BumbleClient(BaseBleakClient):
    """bleak client backend over a `BumbleAdapter`.

    Extra keyword arguments (passed through ``BleakClient(..., **kwargs)``):
    ``bumble_adapter`` (a `BumbleAdapter`; defaults to the one that found the
    device, then to the default adapter) and ``mtu`` (the ATT MTU to request,
    default 247).  (Not ``adapter=``: bleak reserves that name for BlueZ.)
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        services: set[str] | None = None,
        bumble_adapter: BumbleAdapter | None = None,
        mtu: int = DEFAULT_MTU,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.address = address_key(self.address)
        details = getattr(address_or_ble_device, "details", None)
        if bumble_adapter is None and isinstance(details, BumbleDeviceDetails):
            bumble_adapter = details.adapter
        self._adapter = bumble_adapter
        self._hci_address = details.address if isinstance(details, BumbleDeviceDetails) else None
        self._device_name = getattr(address_or_ble_device, "name", None)
        self._requested_mtu = mtu
        self._requested_services = services
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnected: asyncio.Future[None] | None = None
        self._disconnecting = False
        self._notify: dict[int, Callable[[bytes], None]] = {}

    # -- properties ---------------------------------------------------------------

    @property
    def adapter(self) -> BumbleAdapter:
        return resolve_adapter(self._adapter)

    @property
    def name(self) -> str:
        advertisement = (
            self.adapter.last_advertisement(self.address)
            if self._adapter or get_default_adapter()
            else None
        )
        if advertisement is not None and (
            name := advertisement.data.get(advertisement.data.COMPLETE_LOCAL_NAME)
        ):
            return str(name)
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        if self._connection is None:
            return att.ATT_DEFAULT_MTU
        return int(self._connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # -- connection -----------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        # bleak-retry-connector always passes its own 20 s; a shorter timeout
        # given to the constructor (``BleakClient(..., timeout=)``) wins.
        timeout = min(float(kwargs.get("timeout", self._timeout)), self._timeout)
        use_cache = bool(kwargs.get("dangerous_use_bleak_cache", False))
        adapter = self.adapter
        if self._connection is not None:
            return
        hci_address = self._hci_address or await adapter.find_address(self.address, timeout)
        if hci_address is None:
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            )
        try:
            connection = await adapter.connect(hci_address, timeout)
        except TimeoutError:
            raise
        except (core.BaseBumbleError, hci.HCI_Error) as err:
            raise BleakError(f"{self.address}: connection failed: {err}") from err
        loop = asyncio.get_running_loop()
        self._connection = connection
        self._disconnected = loop.create_future()
        self._disconnecting = False
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._peer = Peer(connection)
        try:
            if self._requested_mtu > att.ATT_DEFAULT_MTU:
                await self._guard("MTU exchange", self._peer.request_mtu(self._requested_mtu))
            self.services = await self._get_services(use_cache)
            if pair:
                await self.pair()
        except BaseException:
            await self.disconnect()
            raise
        _LOGGER.debug("%s: connected (MTU %s)", self.address, self.mtu_size)

    def _on_disconnection(self, reason: int) -> None:
        _LOGGER.debug("%s: disconnected (reason 0x%02X)", self.address, reason)
        self._connection = None
        self._peer = None
        self._notify.clear()
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        if not self._disconnecting and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnecting = True
        waiter = self._disconnected
        with contextlib.suppress(core.BaseBumbleError, hci.HCI_Error, TimeoutError):
            await asyncio.wait_for(connection.disconnect(), 5.0)
        if waiter is not None and not waiter.done():
            # The controller accepted the request; its confirmation normally follows at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), 5.0)
        if self._connection is connection:  # no confirmation at all: forget it anyway
            self._on_disconnection(hci.HCI_ErrorCode.CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._require_connection()
        await self._guard("pairing", connection.pair())

    async def unpair(self) -> None:
        raise NotImplementedError("the Bumble backend keeps no bonds; there is nothing to unpair")

    # -- services -------------------------------------------------------------------

    async def _get_services(self, use_cache: bool) -> BleakGATTServiceCollection:
        peer = self._require_peer()
        cached = self.adapter.cached_services(self.address) if use_cache else None
        if cached is not None:
            _LOGGER.debug("%s: using cached services", self.address)
            proxies = self._proxies_from_cache(peer, cached)
        else:
            proxies = await self._discover(peer)
            self.adapter.cache_services(self.address, _to_cache(proxies))
        return self._collection(proxies)

    async def _discover(self, peer: Peer) -> list[ServiceProxy]:
        await self._guard("service discovery", peer.discover_services())
        services = [s for s in peer.services if self._wanted(s)]
        for service in services:
            await self._guard("characteristic discovery", service.discover_characteristics())
            for characteristic in service.characteristics:
                await self._guard("descriptor discovery", characteristic.discover_descriptors())
        return services

    def _wanted(self, service: ServiceProxy) -> bool:
        return not self._requested_services or _uuid_str(service.uuid) in self._requested_services

    def _proxies_from_cache(
        self, peer: Peer, cached: tuple[CachedService, ...]
    ) -> list[ServiceProxy]:
        client = peer.gatt_client
        services: list[ServiceProxy] = []
        for entry in cached:
            service = ServiceProxy(
                client, entry.handle, entry.end_group_handle, core.UUID.from_bytes(entry.uuid)
            )
            characteristics = []
            for c in entry.characteristics:
                proxy: CharacteristicProxy[bytes] = CharacteristicProxy(
                    client, c.handle, c.end_group_handle, core.UUID.from_bytes(c.uuid), c.properties
                )
                proxy.descriptors = [
                    DescriptorProxy(client, handle, core.UUID.from_bytes(u))
                    for handle, u in c.descriptors
                ]
                proxy.descriptors_discovered = True
                characteristics.append(proxy)
            service.characteristics = characteristics
            services.append(service)
        client.services = services
        return [s for s in services if self._wanted(s)]

    def _collection(self, proxies: list[ServiceProxy]) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        mtu = self.mtu_size
        for service_proxy in proxies:
            service = BleakGATTService(
                service_proxy, service_proxy.handle, _uuid_str(service_proxy.uuid)
            )
            collection.add_service(service)
            for char_proxy in service_proxy.characteristics:
                characteristic = BleakGATTCharacteristic(
                    char_proxy,
                    char_proxy.handle,
                    _uuid_str(char_proxy.uuid),
                    _properties(int(char_proxy.properties)),
                    lambda mtu=mtu: mtu - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                for desc_proxy in char_proxy.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            desc_proxy,
                            desc_proxy.handle,
                            _uuid_str(desc_proxy.type),
                            characteristic,
                        )
                    )
        return collection

    # -- I/O ------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._guard("read", peer.read_value(characteristic.handle)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._guard("descriptor read", peer.read_value(descriptor.handle)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._guard(
            "write", peer.write_value(characteristic.handle, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._guard(
            "descriptor write", peer.write_value(descriptor.handle, bytes(data), with_response=True)
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._notify[characteristic.handle] = on_value
        await self._guard("subscribe", proxy.subscribe(on_value))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        subscriber = self._notify.pop(characteristic.handle, None)
        await self._guard("unsubscribe", proxy.unsubscribe(subscriber))

    # -- helpers --------------------------------------------------------------------

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require_connection()
        assert self._peer is not None
        return self._peer

    async def _guard(self, what: str, operation: Awaitable[_T]) -> _T:
        """Run a Bumble GATT operation; a dropped link ends it with a `BleakError`."""
        disconnected = self._disconnected
        task = asyncio.ensure_future(operation)
        if disconnected is None:
            task.cancel()
            raise BleakError(f"{self.address}: not connected")
        try:
            await asyncio.wait({task, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            raise BleakError(f"{self.address}: Disconnected during {what}")
        if task.cancelled():  # Bumble cancels pending ATT requests when the link drops
            raise BleakError(f"{self.address}: Disconnected during {what}")
        try:
            return task.result()
        except att.ATT_Error as err:
            raise BleakGATTProtocolError(err.error_code) from err
        except (core.BaseBumbleError, hci.HCI_Error) as err:
            raise BleakError(f"{self.address}: {what} failed: {err}") from err


def _to_cache(services: list[ServiceProxy]) -> tuple[CachedService, ...]:
    return tuple(
        CachedService(
            uuid=s.uuid.to_bytes(),
            handle=s.handle,
            end_group_handle=s.end_group_handle,
            characteristics=tuple(
                CachedCharacteristic(
                    uuid=c.uuid.to_bytes(),
                    handle=c.handle,
                    end_group_handle=c.end_group_handle,
                    properties=int(c.properties),
                    descriptors=tuple((d.handle, d.type.to_bytes()) for d in c.descriptors),
                )
                for c in s.characteristics
            ),
        )
        for s in services
    )
