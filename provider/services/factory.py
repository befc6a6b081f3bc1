"""The factory line's side of a lock: manifest import and the claim codes on box labels.

A manifest is all or nothing: every line is checked (format, weak keys,
repeats within the file and against what is already registered) before
anything is written, every problem is reported with its line number, and the
rows go in with one multi-row INSERT in the caller's transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import insert, select

from provider.clock import now
from provider.extensions import db
from provider.models import FactoryDevice, Lock
from provider.models.base import new_id
from provider.services import crypto, device_keys
from provider.services.locks import BLE_ADDRESS, DEVICE_KEY_PURPOSE, OFFLINE_SECRET_PURPOSE

MANIFEST_FIELDS = (
    "serial",
    "ble_address",
    "model",
    "hardware_revision",
    "firmware_version",
    "device_key",
    "offline_code_secret",
)
SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEVICE_KEY_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
# Exactly 32 bytes: the offline-code scheme keys HMAC-SHA256 with it (docs/ble-protocol.md, section 17).
OFFLINE_SECRET_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
TEXT_LIMITS = {"model": 50, "hardware_revision": 32, "firmware_version": 32}
RESERVED_ADDRESSES = ("00:00:00:00:00:00", "FF:FF:FF:FF:FF:FF")
_CHUNK = 500  # ids per IN (...) when checking a batch against the table

# Crockford base32: no I, L, O, U, so a code read off a box survives being typed.
CLAIM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLAIM_CODE_LENGTH = 16  # 80 random bits
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


class ManifestError(ValueError):
    """The manifest was refused; `problems` holds (line number, message), first line is 1."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = sorted(problems)
        super().__init__("; ".join(f"line {line}: {message}" for line, message in self.problems))


class ClaimCodeError(ValueError):
    """Labels were asked for devices that cannot have one (unknown, or already claimed)."""


@dataclass(frozen=True)
class ManifestLine:
    line: int
    serial: str
    ble_address: str
    model: str
    hardware_revision: str
    firmware_version: str
    device_key: bytes
    offline_code_secret: bytes


@dataclass(frozen=True)
class ImportResult:
    batch_id: str
    count: int


# --- parsing -------------------------------------------------------------------------------------


def _records(text: str, fmt: str) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
    """(line number, fields, problem) for every record of the file."""
    if fmt == "jsonl":
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                yield number, None, "not a JSON object"
                continue
            if not isinstance(value, dict):
                yield number, None, "not a JSON object"
                continue
            yield number, value, None
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [name for name in MANIFEST_FIELDS if name not in header]
    unknown = [name for name in header if name not in MANIFEST_FIELDS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing columns " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns " + ", ".join(unknown))
        yield 1, None, "header: " + "; ".join(parts)
        return
    for record in reader:
        # The line the record ends on: its own line for every record without a quoted newline.
        number = reader.line_num
        if None in record:
            yield number, None, "more fields than the header has"
            continue
        yield number, dict(record), None


def detect_format(name: str, text: str) -> str:
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _field(record: dict[str, object], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else ""


def _check_line(number: int, record: dict[str, object]) -> tuple[ManifestLine | None, list[str]]:
    problems: list[str] = []
    if extra := [key for key in record if key not in MANIFEST_FIELDS]:
        problems.append("unknown fields " + ", ".join(sorted(map(str, extra))))
    for name in MANIFEST_FIELDS:
        if name in record and not isinstance(record[name], str):
            problems.append(f"{name} must be a string")
    serial = _field(record, "serial")
    if not SERIAL.match(serial):
        problems.append("serial must be 1-64 letters, digits, '.', '_' or '-'")
    address = _field(record, "ble_address").upper()
    if not BLE_ADDRESS.match(address) or address in RESERVED_ADDRESSES:
        problems.append("ble_address must look like AA:BB:CC:DD:EE:FF")
    texts = {}
    for name, limit in TEXT_LIMITS.items():
        texts[name] = _field(record, name)
        if not texts[name] or len(texts[name]) > limit or not texts[name].isprintable():
            problems.append(f"{name} must be 1-{limit} printable characters")
    key_hex = _field(record, "device_key")
    key = b""
    if not DEVICE_KEY_HEX.match(key_hex):
        problems.append("device_key must be 32 hex characters (128 bits)")
    else:
        key = bytes.fromhex(key_hex)
        if reason := device_keys.weakness(key):
            problems.append(f"device_key is weak: {reason}")
    secret_hex = _field(record, "offline_code_secret")
    secret = b""
    if not OFFLINE_SECRET_HEX.match(secret_hex):
        problems.append("offline_code_secret must be 64 hex characters (32 bytes)")
    else:
        secret = bytes.fromhex(secret_hex)
        if reason := device_keys.weakness(secret):
            problems.append(f"offline_code_secret is weak: {reason}")
        elif key and secret[: len(key)] == key:
            problems.append("offline_code_secret must not repeat the device key")
    if problems:
        return None, problems
    return ManifestLine(number, serial, address, texts["model"], texts["hardware_revision"],
                        texts["firmware_version"], key, secret), []


def parse_manifest(text: str, fmt: str) -> list[ManifestLine]:
    """Every line checked on its own and against the others; raises ManifestError with all problems."""
    problems: list[tuple[int, str]] = []
    lines: list[ManifestLine] = []
    for number, record, problem in _records(text, fmt):
        if problem is not None or record is None:
            problems.append((number, problem or "unreadable"))
            continue
        line, found = _check_line(number, record)
        problems.extend((number, message) for message in found)
        if line is not None:
            lines.append(line)
    if not lines and not problems:
        problems.append((1, "the manifest holds no devices"))
    seen: dict[str, dict[object, int]] = {"serial": {}, "BLE address": {}, "device key": {}}
    for line in lines:
        for what, value in (("serial", line.serial), ("BLE address", line.ble_address),
                            ("device key", line.device_key)):
            first = seen[what].setdefault(value, line.line)
            if first != line.line:
                shown = "" if what == "device key" else f" {value}"
                problems.append((line.line, f"{what}{shown} repeats line {first}"))
    if problems:
        raise ManifestError(problems)
    return lines


# --- import --------------------------------------------------------------------------------------


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _taken(column: object, values: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(values):
        found.update(db.session.scalars(select(column).where(column.in_(chunk))).all())
    return found


def import_manifest(lines: list[ManifestLine], *, secret_key: str | None = None) -> ImportResult:
    """Adds the devices in the caller's transaction; refuses the batch if any is already known."""
    digests = {line.line: device_keys.digest(line.device_key, secret_key=secret_key) for line in lines}
    serials = _taken(FactoryDevice.serial, [line.serial for line in lines])
    addresses = _taken(FactoryDevice.ble_address, [line.ble_address for line in lines])
    addresses |= _taken(Lock.ble_address, [line.ble_address for line in lines])
    keys = _taken(FactoryDevice.device_key_digest, list(digests.values()))
    problems: list[tuple[int, str]] = []
    for line in lines:
        if line.serial in serials:
            problems.append((line.line, f"serial {line.serial} is already registered"))
        if line.ble_address in addresses:
            problems.append((line.line, f"BLE address {line.ble_address} is already registered"))
        if digests[line.line] in keys:
            problems.append((line.line, "device key is already used by another device"))
    if problems:
        raise ManifestError(problems)
    batch_id, at = new_id(), now()
    rows = [
        {
            "id": new_id(),
            "serial": line.serial,
            "ble_address": line.ble_address,
            "model": line.model,
            "hardware_revision": line.hardware_revision,
            "firmware_version": line.firmware_version,
            "device_key_enc": crypto.encrypt(line.device_key.hex(), purpose=DEVICE_KEY_PURPOSE,
                                             secret_key=secret_key),
            "device_key_digest": digests[line.line],
            "offline_secret_enc": crypto.encrypt(line.offline_code_secret.hex(),
                                                 purpose=OFFLINE_SECRET_PURPOSE, secret_key=secret_key),
            "batch_id": batch_id,
            "created_at": at,
            "updated_at": at,
        }
        for line in lines
    ]
    db.session.execute(insert(FactoryDevice), rows)
    return ImportResult(batch_id, len(rows))


def device_key(device: FactoryDevice) -> str:
    return crypto.decrypt(device.device_key_enc, purpose=DEVICE_KEY_PURPOSE)


def offline_secret(device: FactoryDevice) -> str:
    """The offline-code secret as imported (hex); the offline-codes scheme derives from it."""
    return crypto.decrypt(device.offline_secret_enc, purpose=OFFLINE_SECRET_PURPOSE)


def find_device(serial: str) -> FactoryDevice | None:
    return db.session.scalar(select(FactoryDevice).where(FactoryDevice.serial == serial))


# --- claim codes ---------------------------------------------------------------------------------


def new_claim_code() -> str:
    raw = "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CLAIM_CODE_LENGTH, 4))


def normalize_claim_code(text: str) -> str | None:
    """The code's canonical form (16 characters), from a typed code or a scanned label URL."""
    text = text.strip()
    if "://" in text:
        text = (parse_qs(urlsplit(text).query).get("code") or [""])[0]
    code = text.upper().replace("-", "").replace(" ", "").translate(_CROCKFORD_ALIASES)
    if len(code) != CLAIM_CODE_LENGTH or any(char not in CLAIM_ALPHABET for char in code):
        return None
    return code


def claim_code_hash(code: str) -> str:
    return hashlib.sha256(f"claim:{code}".encode()).hexdigest()


def issue_claim_codes(serials: Iterable[str]) -> list[tuple[FactoryDevice, str]]:
    """A fresh claim code for each device (the previous label's code stops working)."""
    wanted = list(dict.fromkeys(serials))
    devices = {
        device.serial: device
        for chunk in _chunks(wanted)
        for device in db.session.scalars(select(FactoryDevice).where(FactoryDevice.serial.in_(chunk)))
    }
    unknown = [serial for serial in wanted if serial not in devices]
    if unknown:
        raise ClaimCodeError("unknown serial numbers: " + ", ".join(unknown))
    claimed = [serial for serial in wanted if devices[serial].claimed_at is not None]
    if claimed:
        raise ClaimCodeError("already claimed (unclaim or factory-reset first): " + ", ".join(claimed))
    issued = []
    at = now()
    for serial in wanted:
        code = new_claim_code()
        device = devices[serial]
        device.claim_code_hash = claim_code_hash(normalize_claim_code(code) or "")
        device.claim_code_issued_at = at
        issued.append((device, code))
    return issued


def claim_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/account/claim?code={code}"


def list_devices(*, unclaimed: bool = False) -> list[FactoryDevice]:
    query = select(FactoryDevice).order_by(FactoryDevice.serial)
    if unclaimed:
        query = query.where(FactoryDevice.claimed_at.is_(None))
    return list(db.session.scalars(query))
