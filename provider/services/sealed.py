"""Event fields that must not rest in clear (the digits of a mistyped PIN, which are
usually one digit from a real one): one JSON object, AES-GCM encrypted under its own
purpose (provider.services.crypto). What is sealed is chosen by the code that records
the event, by passing it apart from the public data, never by a field's name: a field
renamed in the payload stays encrypted.
"""

from __future__ import annotations

import json
from typing import Any

import bridge_contract as contract
from provider.services import crypto

PURPOSE = "event.sealed_data"
# Lock reports whose whole `data` is sealed in lock_event_log.
SEALED_LOCK_REPORTS = frozenset({contract.INCORRECT_PIN})


def seal(data: dict[str, Any] | None) -> str | None:
    if not data:
        return None
    return crypto.encrypt(json.dumps(data, sort_keys=True, separators=(",", ":")), purpose=PURPOSE)


def unseal(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    data: dict[str, Any] = json.loads(crypto.decrypt(token, purpose=PURPOSE))
    return data
