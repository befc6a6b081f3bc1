"""`BumbleScanner`: a bleak scanner backend over a `BumbleAdapter`.

async with BleakScanner(backend=BumbleScanner, bumble_adapter=adapter) as scanner: ...
await BleakScanner.discover(2.0, backend=BumbleScanner, bumble_adapter=adapter)
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import AdvertisingData
from bumble.device import Advertisement

from firmware_bridge.bumble_backend.adapter import (
    BumbleAdapter,
    BumbleDeviceDetails,
    address_key,
    resolve_adapter,
)
from firmware_bridge.bumble_backend.bleak_backend import _uuid_str

_LOGGER = logging.getLogger(__name__)

_UUID_LISTS = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_SERVICE_DATA = (
    AdvertisingData.SERVICE_DATA_16_BIT_UUID,
    AdvertisingData.SERVICE_DATA_32_BIT_UUID,
    AdvertisingData.SERVICE_DATA_128_BIT_UUID,
)


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """Bumble's parsed advertisement -> bleak's `AdvertisementData`."""
    data = advertisement.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME
    )
    uuids: list[str] = []
    for ad_type in _UUID_LISTS:
        for uuid_list in data.get_all(ad_type):
            uuids.extend(u for u in map(_uuid_str, uuid_list) if u not in uuids)
    service_data = {
        _uuid_str(u): bytes(value)
        for ad_type in _SERVICE_DATA
        for u, value in data.get_all(ad_type)
    }
    manufacturer = {
        company: bytes(value)
        for company, value in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
    }
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    return AdvertisementData(
        local_name=str(name) if name else None,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=tx_power if isinstance(tx_power, int) else None,
        rssi=int(advertisement.rssi),
        platform_data=(advertisement,),
    )


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend over a `BumbleAdapter` (``bumble_adapter=`` or the default one)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bumble_adapter: BumbleAdapter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._adapter = bumble_adapter
        self._active = scanning_mode == "active"
        self._token = object()

    @property
    def adapter(self) -> BumbleAdapter:
        return resolve_adapter(self._adapter)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        key = address_key(advertisement.address)
        details = BumbleDeviceDetails(self.adapter, advertisement.address)
        device = self.create_or_update_device(key, key, adv.local_name, details, adv)
        self.call_detection_callbacks(device, adv)

    async def start(self) -> None:
        self.seen_devices = {}
        await self.adapter.add_scan_listener(
            self._token, self._on_advertisement, active=self._active
        )

    async def stop(self) -> None:
        await self.adapter.remove_scan_listener(self._token)
