"""The bleak backend over Bumble, against a plain GATT peripheral on the virtual link.

These tests use bleak's public API (`BleakClient`, `BleakScanner`) and
bleak-retry-connector exactly as the gateway code does; only ``backend=``
differs.  The peripheral is a small echo service so that the backend is
tested on its own, before the lock protocol is involved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection
from bumble import att, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from firmware_bridge.bumble_backend import (
    BumbleAdapter,
    BumbleClient,
    BumbleDeviceDetails,
    BumbleScanner,
    VirtualController,
    VirtualLink,
)
from firmware_bridge.bumble_backend import adapter as adapter_module
from tests.firmware_bridge.asyncrun import run_bounded

SERVICE = "7e570001-0000-4000-8000-00805f9b34fb"
WRITE = "7e570002-0000-4000-8000-00805f9b34fb"
NOTIFY = "7e570003-0000-4000-8000-00805f9b34fb"
READ = "7e570004-0000-4000-8000-00805f9b34fb"
PERIPHERAL = "F1:00:00:00:00:01"


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    run_bounded(scenario, timeout)


class EchoPeripheral:
    """Notifies back every write, reversed; ``stall`` makes writes never answer."""

    def __init__(self, link: VirtualLink, address: str = PERIPHERAL) -> None:
        controller = VirtualController(f"echo-{address}", link=link)
        self.device = Device(
            name="echo",
            address=hci.Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self.stall = False
        self.reject = False
        self.writes: list[bytes] = []
        self.notify = Characteristic(
            NOTIFY, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        self.read = Characteristic(
            READ, Characteristic.Properties.READ, Characteristic.READABLE, b"x" * 300
        )
        write = Characteristic(
            WRITE,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_write),
        )
        self.device.add_service(Service(SERVICE, [write, self.notify, self.read]))

    async def _on_write(self, connection: Any, value: bytes) -> None:
        if self.reject:
            raise att.ATT_Error(att.ErrorCode.WRITE_REQUEST_REJECTED)
        self.writes.append(bytes(value))
        if self.stall:
            await asyncio.Event().wait()
        await self.device.notify_subscriber(connection, self.notify, bytes(value)[::-1])

    async def start(self) -> None:
        await self.device.power_on()
        await self.advertise()

    async def advertise(self) -> None:
        data = AdvertisingData(
            [
                (AdvertisingData.COMPLETE_LOCAL_NAME, b"echo"),
                (
                    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(SERVICE).to_bytes(),
                ),
                (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, b"\xff\xff\x01\x02"),
            ]
        )
        await self.device.start_advertising(
            advertising_data=bytes(data),
            advertising_interval_min=20,
            advertising_interval_max=20,
            auto_restart=True,
        )

    async def drop_links(self) -> None:
        for connection in list(self.device.connections.values()):
            await connection.disconnect()


async def setup() -> tuple[BumbleAdapter, EchoPeripheral]:
    link = VirtualLink()
    adapter = await BumbleAdapter.on_link(link)
    peripheral = EchoPeripheral(link)
    await peripheral.start()
    return adapter, peripheral


def test_scanner_reports_advertisement_data() -> None:
    async def scenario() -> None:
        adapter, _ = await setup()
        found = await BleakScanner.discover(
            0.2, return_adv=True, backend=BumbleScanner, bumble_adapter=adapter
        )
        device, adv = found[PERIPHERAL]
        assert device.name == "echo"
        assert adv.local_name == "echo"
        assert adv.service_uuids == [SERVICE]
        assert adv.manufacturer_data == {0xFFFF: b"\x01\x02"}
        filtered = await BleakScanner.discover(
            0.1, backend=BumbleScanner, bumble_adapter=adapter, service_uuids=[WRITE]
        )
        assert filtered == []
        await adapter.close()

    run(scenario)


def test_client_round_trip_with_notifications_and_services() -> None:
    async def scenario() -> None:
        adapter, peripheral = await setup()
        device = await BleakScanner.find_device_by_address(
            PERIPHERAL, 2.0, backend=BumbleScanner, bumble_adapter=adapter
        )
        assert device is not None
        async with BleakClient(device, backend=BumbleClient) as client:
            assert client.is_connected
            assert client.mtu_size == 247
            service = client.services.get_service(SERVICE)
            assert service is not None
            assert {c.uuid for c in service.characteristics} == {WRITE, NOTIFY, READ}
            assert "write-without-response" in client.services.get_characteristic(WRITE).properties
            received: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(NOTIFY, lambda _c, data: received.put_nowait(bytes(data)))
            await client.write_gatt_char(WRITE, b"hello", response=True)
            assert await asyncio.wait_for(received.get(), 2) == b"olleh"
            await client.write_gatt_char(WRITE, b"abc", response=False)
            assert await asyncio.wait_for(received.get(), 2) == b"cba"
            assert await client.read_gatt_char(READ) == b"x" * 300  # long read across the MTU
            await client.stop_notify(NOTIFY)
            await client.write_gatt_char(WRITE, b"quiet", response=True)
            await asyncio.sleep(0.05)
            assert received.empty()
        assert not client.is_connected
        await adapter.close()

    run(scenario)


def test_default_mtu_and_write_long() -> None:
    async def scenario() -> None:
        adapter, peripheral = await setup()
        async with BleakClient(
            PERIPHERAL, backend=BumbleClient, bumble_adapter=adapter, mtu=23, timeout=2
        ) as client:
            assert client.mtu_size == 23
            await client.write_gatt_char(WRITE, b"y" * 60, response=True)
            assert peripheral.writes[-1] == b"y" * 60
        await adapter.close()

    run(scenario)


def test_establish_connection_uses_the_services_cache() -> None:
    async def scenario() -> None:
        adapter, peripheral = await setup()
        device = await BleakScanner.find_device_by_address(
            PERIPHERAL, 2.0, backend=BumbleScanner, bumble_adapter=adapter
        )
        client = await establish_connection(
            BleakClientWithServiceCache, device, "echo", backend=BumbleClient
        )
        await client.disconnect()
        assert adapter.cached_services(PERIPHERAL) is not None
        client = await establish_connection(
            BleakClientWithServiceCache, device, "echo", backend=BumbleClient
        )
        received: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(NOTIFY, lambda _c, data: received.put_nowait(bytes(data)))
        await client.write_gatt_char(WRITE, b"cached", response=True)
        assert await asyncio.wait_for(received.get(), 2) == b"dehcac"
        await client.disconnect()
        await adapter.close()

    run(scenario)


def test_att_error_becomes_bleak_gatt_protocol_error() -> None:
    async def scenario() -> None:
        adapter, peripheral = await setup()
        peripheral.reject = True
        async with BleakClient(
            PERIPHERAL, backend=BumbleClient, bumble_adapter=adapter, timeout=2
        ) as client:
            with pytest.raises(BleakGATTProtocolError) as info:
                await client.write_gatt_char(WRITE, b"no", response=True)
            assert info.value.code == att.ErrorCode.WRITE_REQUEST_REJECTED
        await adapter.close()

    run(scenario)


def test_link_drop_during_a_write_raises_bleak_error_and_calls_back() -> None:
    async def scenario() -> None:
        adapter, peripheral = await setup()
        dropped = asyncio.Event()
        client = BleakClient(
            PERIPHERAL,
            lambda _c: dropped.set(),
            backend=BumbleClient,
            bumble_adapter=adapter,
            timeout=2,
        )
        await client.connect()
        peripheral.stall = True
        write = asyncio.ensure_future(client.write_gatt_char(WRITE, b"stuck", response=True))
        await asyncio.sleep(0.05)
        assert not write.done()
        await peripheral.drop_links()
        with pytest.raises(BleakError, match="Disconnected during write"):
            await asyncio.wait_for(write, 2)
        await asyncio.wait_for(dropped.wait(), 2)
        assert not client.is_connected
        with pytest.raises(BleakError, match="not connected"):
            await client.read_gatt_char(READ)
        # and it can come back
        peripheral.stall = False
        await client.connect()
        assert await client.read_gatt_char(READ) == b"x" * 300
        await client.disconnect()
        await adapter.close()

    run(scenario)


def test_connect_to_a_silent_peripheral_times_out_and_the_adapter_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Treat the sighting below as fresh throughout, so that the adapter goes on to
    # the HCI connection procedure (and its cancellation) instead of scanning.
    monkeypatch.setattr(adapter_module, "FRESH_ADVERTISEMENT", 60.0)

    async def scenario() -> None:
        adapter, peripheral = await setup()
        await BleakScanner.discover(0.1, backend=BumbleScanner, bumble_adapter=adapter)
        await peripheral.device.stop_advertising()
        client = BleakClient(PERIPHERAL, backend=BumbleClient, bumble_adapter=adapter, timeout=0.3)
        with pytest.raises(TimeoutError):
            await client.connect()
        # a caller that gives up early (cancellation) leaves the controller usable
        attempt = asyncio.ensure_future(client.connect())
        await asyncio.sleep(0.05)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        await peripheral.advertise()
        await client.connect()
        assert client.is_connected
        await client.disconnect()
        await adapter.close()

    run(scenario)


def test_a_peripheral_that_is_away_does_not_block_connections_to_others() -> None:
    async def scenario() -> None:
        link = VirtualLink()
        adapter = await BumbleAdapter.on_link(link)
        present = EchoPeripheral(link, "F1:00:00:00:00:02")
        await present.start()
        # A lock we know (typed address from an old scan) that no longer advertises.
        gone = BLEDevice(
            "F1:00:00:00:00:01",
            "gone",
            BumbleDeviceDetails(adapter, hci.Address("F1:00:00:00:00:01")),
        )
        away = BleakClient(gone, backend=BumbleClient, timeout=5.0)
        waiting = asyncio.ensure_future(away.connect())
        await asyncio.sleep(0.05)
        async with BleakClient(
            "F1:00:00:00:00:02", backend=BumbleClient, bumble_adapter=adapter, timeout=5.0
        ) as client:
            assert client.is_connected and not waiting.done()  # connected while the other waits
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await adapter.close()

    run(scenario)


def test_unknown_address_is_not_found() -> None:
    async def scenario() -> None:
        adapter, _ = await setup()
        client = BleakClient(
            "F1:00:00:00:00:99", backend=BumbleClient, bumble_adapter=adapter, timeout=0.2
        )
        with pytest.raises(BleakError, match="not found"):
            await client.connect()
        await adapter.close()

    run(scenario)


def test_no_adapter_is_a_clear_error() -> None:
    async def scenario() -> None:
        client = BleakClient(PERIPHERAL, backend=BumbleClient, timeout=0.2)
        with pytest.raises(BleakError, match="no Bumble adapter"):
            await client.connect()

    run(scenario)
