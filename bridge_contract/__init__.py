"""What the cloud and a bridge agree on: the vocabulary of the bridge API (/bridge/v1).

One definition for both sides of the boundary: the provider validates and
interprets with these names, the bridge agent produces them, and the BLE
protocol uses the same PIN and name limits the lock enforces.  This package
imports nothing (not Flask, not bleak, nothing of ours), so any side can use
it; ``CONTRACTS.md`` at the top of the repository describes it in prose.

Adding a command type or an event type starts here.
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------
# Commands: the cloud queues them, a bridge executes them on a lock.
# --------------------------------------------------------------------------
LOCK: Final = "lock"
UNLOCK: Final = "unlock"
PUT_CODE: Final = "put_code"
DELETE_CODE: Final = "delete_code"
SET_TIME: Final = "set_time"
# Two-step device-key replacement (docs/ble-protocol.md, key rotation); params: rotation_id,
# and new_key (hex) added as the command leaves the cloud, never stored in the queue.
ROTATE_KEY: Final = "rotate_key"
COMMAND_TYPES: Final = (LOCK, UNLOCK, PUT_CODE, DELETE_CODE, SET_TIME, ROTATE_KEY)
#: The bolt state a bolt command leaves the lock in (how a retried one is verified first).
BOLT_COMMANDS: Final = {LOCK: "locked", UNLOCK: "unlocked"}
#: Commands that may wait for an unreachable lock to come back; bolt commands fail at once
#: (a remote unlock that happens an hour later is worse than one that fails).
DEFERRABLE_COMMANDS: Final = frozenset({PUT_CODE, DELETE_CODE, SET_TIME, ROTATE_KEY})

#: A command result's status.
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
RESULT_STATUSES: Final = (SUCCEEDED, FAILED)

# --------------------------------------------------------------------------
# Error codes a failed command result carries (also Seam's names for them).
# --------------------------------------------------------------------------
LOCK_JAMMED: Final = "LOCK_JAMMED"
BOLT_OBSTRUCTED: Final = "BOLT_OBSTRUCTED"
MECHANISM_ERROR: Final = "MECHANISM_ERROR"
FIRMWARE_REFUSED: Final = "FIRMWARE_REFUSED"
ACTION_TIMEOUT: Final = "ACTION_TIMEOUT"
DEVICE_OFFLINE: Final = "DEVICE_OFFLINE"
NO_SPACE_ON_DEVICE: Final = "NO_SPACE_ON_DEVICE"
#: A first put (`replace` false) found the slot holding a code the cloud did not create: the
#: cloud moves its code to another slot and keeps the lock's.
SLOT_OCCUPIED: Final = "SLOT_OCCUPIED"
#: The lock's firmware does not implement weekly schedules (it would open at all hours).
SCHEDULES_NOT_SUPPORTED: Final = "SCHEDULES_NOT_SUPPORTED"
ERROR_CODES: Final = (
    LOCK_JAMMED,
    BOLT_OBSTRUCTED,
    MECHANISM_ERROR,
    FIRMWARE_REFUSED,
    ACTION_TIMEOUT,
    DEVICE_OFFLINE,
    NO_SPACE_ON_DEVICE,
    SLOT_OCCUPIED,
    SCHEDULES_NOT_SUPPORTED,
)
#: What Seam reads as `message` next to an error code when the bridge sent none.
ERROR_MESSAGES: Final = {
    LOCK_JAMMED: "The bolt jammed; its position is unknown.",
    BOLT_OBSTRUCTED: "The bolt could not extend (the door may be open).",
    MECHANISM_ERROR: "The lock's mechanism refused to move.",
    FIRMWARE_REFUSED: "The lock refused the request.",
    ACTION_TIMEOUT: "The lock did not answer in time.",
    DEVICE_OFFLINE: "The lock could not be reached.",
    NO_SPACE_ON_DEVICE: "The lock has no free code slot.",
    SLOT_OCCUPIED: "The slot holds a code the cloud did not create.",
    SCHEDULES_NOT_SUPPORTED: "The lock cannot keep a weekly schedule; the code was not written.",
}
#: What the cloud assumes when a failed result names no code.
DEFAULT_ERROR_CODE: Final = MECHANISM_ERROR
ERROR_CODE_MAX_CHARS: Final = 64
ERROR_MESSAGE_MAX_CHARS: Final = 1000

# --------------------------------------------------------------------------
# Lock events: entries of a lock's event log, as a bridge posts them.
# --------------------------------------------------------------------------
LOCKED: Final = "locked"
UNLOCKED: Final = "unlocked"
INCORRECT_PIN: Final = "incorrect_pin"
JAMMED: Final = "jammed"
OBSTRUCTED: Final = "obstructed"
BATTERY: Final = "battery"
DOOR: Final = "door"
TAMPER: Final = "tamper"
#: An offline code opened the lock; data: generation, kind, start_hour, end_hour, counter.
OFFLINE_CODE_USED: Final = "offline_code_used"
#: A PIN the lock recognised did not open it; data: reason, slot (online code) or the
#: offline code's fields (generation, kind, start_hour, end_hour, counter).
ACCESS_DENIED: Final = "access_denied"
LOCK_EVENT_TYPES: Final = (LOCKED, UNLOCKED, INCORRECT_PIN, JAMMED, OBSTRUCTED, BATTERY, DOOR, TAMPER,
                           OFFLINE_CODE_USED, ACCESS_DENIED)
#: Kinds of offline code (docs/ble-protocol.md 17.3).
OFFLINE_KINDS: Final = ("one_time", "hourly", "daily")
#: Why a recognised PIN was refused (`data.reason` of access_denied).
DENIAL_REASONS: Final = ("outside_schedule", "revoked", "already_used", "table_full", "unknown")

#: `data.kind` of a tamper event.
TAMPER_CASE_OPENED: Final = "case_opened"
TAMPER_KEYPAD_LOCKOUT: Final = "keypad_lockout"
TAMPER_FORCED_BOLT: Final = "forced_bolt"
TAMPER_KINDS: Final = (TAMPER_CASE_OPENED, TAMPER_KEYPAD_LOCKOUT, TAMPER_FORCED_BOLT)

#: What moved the bolt (`data.source` of locked/unlocked/jammed/obstructed events).
SOURCE_KEYPAD: Final = "keypad"
SOURCE_MANUAL: Final = "manual"
SOURCE_BLE: Final = "ble"
SOURCE_AUTO_LOCK: Final = "auto_lock"
LOCK_SOURCES: Final = (SOURCE_KEYPAD, SOURCE_MANUAL, SOURCE_BLE, SOURCE_AUTO_LOCK)

#: Seam's `performed_via` for a bolt movement the lock reports.  A "ble" movement is the
#: cloud's own remote command: it is reported through the command's result instead.
PERFORMED_VIA_REMOTE: Final = "remote_api"
#: A lock or unlock the owner asked for on the vendor's own pages (or app).
PERFORMED_VIA_MOBILE_APP: Final = "mobile_app"
#: Auto-lock is the lock acting at the door with no remote party: Seam's list has no
#: "automatic", so it reads as `manual_turn` and the event keeps `source: auto_lock`.
PERFORMED_VIA: Final = {
    SOURCE_KEYPAD: "pin_code",
    SOURCE_MANUAL: "manual_turn",
    SOURCE_AUTO_LOCK: "manual_turn",
}
#: Every `performed_via` Seam's guide knows; nothing else is ever sent.
PERFORMED_VIA_VALUES: Final = (
    "pin_code", "mobile_app", "remote_api", "bluetooth_key", "fob_card", "manual_turn",
)

#: At or below this battery level the lock reports itself low (`battery` event `low`), and
#: the cloud emits `battery.low` when a level first reaches it.
BATTERY_LOW_PERCENT: Final = 15

#: Signal in a heartbeat: `rssi` in dBm as the bridge measured it (the guide's example is -68),
#: `signal_quality` 0-100 (a negative `signal_quality` is taken as an RSSI in dBm).
RSSI_MIN_DBM: Final = -127
RSSI_MAX_DBM: Final = 20


def signal_percent(rssi_dbm: int) -> int:
    """RSSI to a 0-100 level: -100 dBm (edge of range) is 0, -50 dBm and better is 100."""
    return max(0, min(100, 2 * (rssi_dbm + 100)))


#: Longest auto-lock delay a heartbeat may report (seconds).
AUTO_LOCK_DELAY_MAX: Final = 86_400
FIRMWARE_VERSION_MAX_CHARS: Final = 32

#: Bolt states in a heartbeat (a jammed bolt reads as unknown).
LOCK_STATES: Final = ("locked", "unlocked", "unknown")
#: Door sensor states; a lock without a sensor reports none.
DOOR_STATES: Final = ("open", "closed", "ajar")

# --------------------------------------------------------------------------
# Keypad codes: what the lock family accepts (Kwikset-like), published on every lock.
# --------------------------------------------------------------------------
PIN_MIN_DIGITS: Final = 4
PIN_MAX_DIGITS: Final = 8
#: The lock shows and stores at most this many characters (Unicode code points) of a name.
NAME_MAX_CHARS: Final = 14
#: Shortest name the cloud accepts for a code (the cloud stores names longer than the lock's).
NAME_MIN_CHARS: Final = 2
#: Highest code slot number (slots are 1-based; 0xFFFF means "any" on the air).
SLOT_MAX: Final = 0xFFFE

# --------------------------------------------------------------------------
# Sizes of the HTTP API
# --------------------------------------------------------------------------
ID_MAX_CHARS: Final = 36
#: Events, heartbeat entries or code-sync ids in one request.
MAX_BATCH: Final = 500
#: Longest long-poll (`GET /bridge/v1/commands?wait=`), seconds.
MAX_WAIT_SECONDS: Final = 25
MAX_COMMANDS_PER_POLL: Final = 100
