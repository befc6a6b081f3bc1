"""Manifests as a factory line would write them, for the device-lifecycle tests."""

from __future__ import annotations

import json
import secrets

from provider.services import factory

HEADER = ",".join(factory.MANIFEST_FIELDS)


def device_row(n: int, **overrides: str) -> dict[str, str]:
    row = {
        "serial": f"HALO-{n:06d}",
        "ble_address": f"D0:{(n >> 24) & 255:02X}:{(n >> 16) & 255:02X}:{(n >> 8) & 255:02X}:{n & 255:02X}:01",
        "model": "HALO-01",
        "hardware_revision": "C",
        "firmware_version": "1.4.2",
        "device_key": secrets.token_hex(16),
        "offline_code_secret": secrets.token_hex(32),
    }
    row.update(overrides)
    return row


def csv_text(rows: list[dict[str, str]]) -> str:
    lines = [HEADER] + [",".join(row[name] for name in factory.MANIFEST_FIELDS) for row in rows]
    return "\n".join(lines) + "\n"


def jsonl_text(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def import_rows(rows: list[dict[str, str]]):
    from provider.extensions import db

    result = factory.import_manifest(factory.parse_manifest(csv_text(rows), "csv"))
    db.session.commit()
    return result


def labelled(rows: list[dict[str, str]]) -> dict[str, str]:
    """Imports the rows and issues their labels; returns serial -> claim code."""
    from provider.extensions import db

    import_rows(rows)
    codes = {device.serial: code for device, code in factory.issue_claim_codes(r["serial"] for r in rows)}
    db.session.commit()
    return codes


def vendor_token(account, scope: str = "locks.read locks.write devices.manage") -> str:
    """An access token of the vendor's own app (the client allowed devices.manage)."""
    from provider.extensions import db
    from provider.services.oauth_clients import create_client, find_client
    from provider.services.oauth_tokens import issue_token

    client = find_client("vendor-app")
    if client is None:
        client, _ = create_client("Vendor app", ["https://app.example.com/cb"],
                                  "locks.read locks.write devices.manage", client_id="vendor-app")
    token = issue_token(client, account, scope)
    db.session.commit()
    return token["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
