"""The bridge channel over MQTT: topic names and the presence payload (CONTRACTS.md, "Bridge channel over MQTT").

Every topic of a bridge lies under ``<prefix>/<bridge_id>/``; the broker's ACL
lets a bridge publish only its own up-topics and subscribe only to its own
down-topics. Payloads are JSON with the same fields as the HTTP bridge API's
bodies. Imports nothing, like the rest of ``bridge_contract``.
"""

from __future__ import annotations

from typing import Final

DEFAULT_PREFIX: Final = "bridges"

# Cloud -> bridge (the bridge subscribes).
COMMANDS: Final = "commands"  # one command per message, as GET /bridge/v1/commands lists them
ACKS: Final = "acks"  # the cloud has applied a result or an event batch
DOWN_TOPICS: Final = (COMMANDS, ACKS)

# Bridge -> cloud (the bridge publishes).
RESULTS: Final = "results"  # {"command_id", "status", "error_code", "message"}
EVENTS: Final = "events"  # {"batch_id", "events": [...]} as POST /bridge/v1/events
HEARTBEAT: Final = "heartbeat"  # {"locks": [...]} as POST /bridge/v1/heartbeat
PRESENCE: Final = "presence"  # retained {"state", "session"}; the last will says offline
UP_TOPICS: Final = (RESULTS, EVENTS, HEARTBEAT, PRESENCE)

ONLINE: Final = "online"
OFFLINE: Final = "offline"

#: QoS of every message of the channel: at least once, made harmless by command ids and (lock, seq).
QOS: Final = 1
#: MQTT keep-alive of a bridge: a silent connection is dropped (and its will published) after 1.5x this.
KEEPALIVE_SECONDS: Final = 15


def topic(prefix: str, bridge_id: str, kind: str) -> str:
    return f"{prefix}/{bridge_id}/{kind}"


def parse_topic(prefix: str, name: str) -> tuple[str, str] | None:
    """(bridge_id, kind) of a channel topic, or None for anything else."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != prefix or not parts[1]:
        return None
    return parts[1], parts[2]


def client_id(bridge_id: str) -> str:
    """The MQTT client id a bridge must connect with (its broker account allows no other)."""
    return f"bridge-{bridge_id}"
