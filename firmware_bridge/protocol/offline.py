"""Offline access codes: PINs the cloud derives and the lock checks with no connection.

The normative description is section 17 of ``docs/ble-protocol.md``; this module
is its reference implementation, used by the cloud to derive a code's PIN and
by the virtual lock to verify one. Sans-IO: no clock (the caller passes the
lock's time), no storage (the lock's table is a value the caller keeps).

A code is ``(kind, start_hour, end_hour, counter)``: hours are whole UTC hours
since the Unix epoch, the window is ``[start_hour, end_hour)``, the counter tells
apart up to four codes of the same kind and window. Its 10-digit PIN is

    v = q * HEADERS + header
    header = slot(kind, length) * CODES_PER_WINDOW + counter      (public: 0..4159)
    q = uniform in [0, Q) from HMAC-SHA256(secret, label || kind || start || end || counter || block)

so the lock reads kind, length and counter from the PIN and only has to try the
25 or fewer start hours a first use can have (section 17.4).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum

from .const import (
    OFFLINE_ACTIVATION_HOURS,
    OFFLINE_CLOCK_TOLERANCE,
    OFFLINE_CODE_LABEL,
    OFFLINE_CODES_PER_WINDOW,
    OFFLINE_DAILY_MAX_DAYS,
    OFFLINE_HOURLY_MAX_HOURS,
    OFFLINE_MISS_DECAY,
    OFFLINE_MISS_LIMIT,
    OFFLINE_ONE_TIME_HOURS,
    OFFLINE_PIN_DIGITS,
    OFFLINE_SECRET_PROOF_LABEL,
    OFFLINE_SECRET_SIZE,
    OFFLINE_TABLE_SIZE,
    AccessDenial,
    ErrorCode,
    OfflineKind,
)
from .errors import LocalProtocolError

HOUR = 3600
#: Kind-and-length slots: one-time (0), hourly 1..672 (1..672), daily 1..367 days (673..1039).
_SLOTS = 1 + OFFLINE_HOURLY_MAX_HOURS + OFFLINE_DAILY_MAX_DAYS
#: Public header values: slot * 4 + counter.
HEADERS = _SLOTS * OFFLINE_CODES_PER_WINDOW  # 4160
#: Size of the secret part: the largest Q with Q * HEADERS <= 10^10.
Q = 10**OFFLINE_PIN_DIGITS // HEADERS  # 2,403,846
#: Rejection bound for a u32 chunk: the largest multiple of Q that fits in 2^32.
_LIMIT = (1 << 32) - (1 << 32) % Q
_MAX_BLOCKS = 256
_MESSAGE = struct.Struct("<BIIBB")  # kind, start_hour, end_hour, counter, block


class _HourWindow:
    """``[start_hour, end_hour)`` in whole UTC hours, and the same in Unix seconds."""

    start_hour: int
    end_hour: int

    @property
    def hours(self) -> int:
        return self.end_hour - self.start_hour

    @property
    def starts_at(self) -> int:
        return self.start_hour * HOUR

    @property
    def ends_at(self) -> int:
        return self.end_hour * HOUR


@dataclass(frozen=True, order=True)
class OfflineCode(_HourWindow):
    """One offline code's identity: what the PIN is derived from."""

    kind: OfflineKind
    start_hour: int
    end_hour: int
    counter: int = 0

    def __post_init__(self) -> None:
        problem = _window_problem(self.kind, self.start_hour, self.end_hour, self.counter)
        if problem:
            raise LocalProtocolError(problem, ErrorCode.INVALID_SCHEDULE)

    @property
    def first_use_hours(self) -> int:
        """Hours after the start within which the first use must fall (the whole code if short)."""
        return min(self.hours, OFFLINE_ACTIVATION_HOURS)

    @property
    def remembered(self) -> bool:
        """Whether the lock records the first use: one-time codes (consumed) and long ones (activated)."""
        return self.kind is OfflineKind.ONE_TIME or self.hours > OFFLINE_ACTIVATION_HOURS

    @property
    def header(self) -> int:
        return _slot(self.kind, self.hours) * OFFLINE_CODES_PER_WINDOW + self.counter

    def with_start(self, start_hour: int) -> OfflineCode:
        return replace(self, start_hour=start_hour, end_hour=start_hour + self.hours)


def _window_problem(kind: OfflineKind, start_hour: int, end_hour: int, counter: int) -> str | None:
    if not isinstance(kind, OfflineKind) or kind in (OfflineKind.NONE, OfflineKind.UNKNOWN):
        return f"{kind!r} is not an offline code kind"
    if not 0 <= counter < OFFLINE_CODES_PER_WINDOW:
        return f"counter must be 0..{OFFLINE_CODES_PER_WINDOW - 1}"
    if not 0 < start_hour < end_hour <= 0xFFFF_FFFF:
        return "the window must be start_hour < end_hour, both u32 and non-zero"
    hours = end_hour - start_hour
    if kind is OfflineKind.ONE_TIME and hours != OFFLINE_ONE_TIME_HOURS:
        return f"a one-time code lasts {OFFLINE_ONE_TIME_HOURS} hours"
    if kind is OfflineKind.HOURLY and hours > OFFLINE_HOURLY_MAX_HOURS:
        return f"an hourly code lasts 1 to {OFFLINE_HOURLY_MAX_HOURS} hours"
    if kind is OfflineKind.DAILY and (hours % 24 or not 1 <= hours // 24 <= OFFLINE_DAILY_MAX_DAYS):
        return f"a daily code lasts 1 to {OFFLINE_DAILY_MAX_DAYS} whole days"
    return None


def _slot(kind: OfflineKind, hours: int) -> int:
    if kind is OfflineKind.ONE_TIME:
        return 0
    if kind is OfflineKind.HOURLY:
        return hours
    return OFFLINE_HOURLY_MAX_HOURS + hours // 24


def _unslot(slot: int) -> tuple[OfflineKind, int]:
    """(kind, hours) of a header slot."""
    if slot == 0:
        return OfflineKind.ONE_TIME, OFFLINE_ONE_TIME_HOURS
    if slot <= OFFLINE_HOURLY_MAX_HOURS:
        return OfflineKind.HOURLY, slot
    return OfflineKind.DAILY, (slot - OFFLINE_HOURLY_MAX_HOURS) * 24


def check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) != OFFLINE_SECRET_SIZE:
        raise LocalProtocolError(f"the offline secret is {OFFLINE_SECRET_SIZE} bytes")


def code_message(code: OfflineCode, block: int) -> bytes:
    """The HMAC input of one output block (28 bytes)."""
    return OFFLINE_CODE_LABEL + _MESSAGE.pack(code.kind, code.start_hour, code.end_hour, code.counter, block)


def _samples(secret: bytes, code: OfflineCode) -> Iterator[int]:
    """The u32 LE chunks of HMAC-SHA256 output blocks 0, 1, 2, ... (8 per block)."""
    for block in range(_MAX_BLOCKS):
        digest = hmac.new(secret, code_message(code, block), hashlib.sha256).digest()
        yield from struct.unpack("<8I", digest)
    raise LocalProtocolError("no sample below the bound in 2048 tries")  # pragma: no cover - p < 2^-20000


def secret_value(secret: bytes, code: OfflineCode) -> int:
    """q: the first chunk below the rejection bound, reduced mod Q (uniform, no modulo bias)."""
    check_secret(secret)
    for sample in _samples(secret, code):
        if sample < _LIMIT:
            return sample % Q
    raise AssertionError("unreachable")  # pragma: no cover


def derive_pin(secret: bytes, code: OfflineCode) -> str:
    """The 10-digit PIN of ``code`` under ``secret`` (leading zeros kept)."""
    value = secret_value(secret, code) * HEADERS + code.header
    return f"{value:0{OFFLINE_PIN_DIGITS}d}"


@dataclass(frozen=True)
class ParsedPin:
    """What a typed 10-digit PIN says in the clear: kind, length and counter, and the secret part."""

    kind: OfflineKind
    hours: int
    counter: int
    value: int  # q


def parse_pin(digits: str) -> ParsedPin | None:
    """The public part of a typed PIN, or None if it cannot be an offline code."""
    if len(digits) != OFFLINE_PIN_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    value, header = divmod(int(digits), HEADERS)
    if value >= Q:
        return None
    slot, counter = divmod(header, OFFLINE_CODES_PER_WINDOW)
    kind, hours = _unslot(slot)
    return ParsedPin(kind, hours, counter, value)


def candidate_starts(parsed: ParsedPin, now: int) -> range:
    """Start hours whose code a first use at lock time ``now`` may be, newest first.

    A first use is accepted from ``start - TOLERANCE`` until ``start + first_use_hours + TOLERANCE``
    (seconds); the inverse of that, in whole hours, is this range (at most 25 values).
    """
    first_use = min(parsed.hours, OFFLINE_ACTIVATION_HOURS)
    newest = (now + OFFLINE_CLOCK_TOLERANCE) // HOUR
    oldest = max(1, (now - OFFLINE_CLOCK_TOLERANCE) // HOUR - first_use + 1)
    return range(newest, oldest - 1, -1)


def secret_proof(secret: bytes, generation: int) -> bytes:
    """HMAC-SHA256(secret, "LKP2 offline secret" || generation u32 LE)[0:16]: the lock holds it."""
    check_secret(secret)
    return hmac.new(secret, OFFLINE_SECRET_PROOF_LABEL + struct.pack("<I", generation),
                    hashlib.sha256).digest()[:16]


# --------------------------------------------------------------------------
# The cloud's side: windows and counters
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Window(_HourWindow):
    """A requested validity window rounded to what the scheme can express."""

    kind: OfflineKind
    start_hour: int
    end_hour: int


def round_window(starts_at: int, ends_at: int | None, *, one_time: bool) -> Window:
    """The offline window covering ``[starts_at, ends_at)``, in Unix seconds.

    The start is rounded down to its UTC hour. A one-time code lasts 24 hours from
    there (``ends_at`` is ignored). Otherwise the end is rounded up to a whole hour
    (hourly code, up to 672 hours) or, beyond that, to a whole number of days from
    the start (daily code: start and end at the same time of day, up to 367 days).
    Raises LocalProtocolError (INVALID_SCHEDULE) for a window the scheme cannot cover.
    """
    start_hour = starts_at // HOUR
    if one_time:
        return Window(OfflineKind.ONE_TIME, start_hour, start_hour + OFFLINE_ONE_TIME_HOURS)
    if ends_at is None or ends_at <= starts_at:
        raise LocalProtocolError("an offline code needs ends_at after starts_at", ErrorCode.INVALID_SCHEDULE)
    hours = -(-(ends_at - start_hour * HOUR) // HOUR)
    if hours <= OFFLINE_HOURLY_MAX_HOURS:
        return Window(OfflineKind.HOURLY, start_hour, start_hour + hours)
    days = -(-hours // 24)
    if days > OFFLINE_DAILY_MAX_DAYS:
        raise LocalProtocolError(f"an offline code lasts at most {OFFLINE_DAILY_MAX_DAYS} days",
                                 ErrorCode.INVALID_SCHEDULE)
    return Window(OfflineKind.DAILY, start_hour, start_hour + days * 24)


def unambiguous(secret: bytes, code: OfflineCode) -> bool:
    """No other start hour a lock could try alongside this one gives the same PIN."""
    value = secret_value(secret, code)
    reach = OFFLINE_ACTIVATION_HOURS
    return all(
        secret_value(secret, code.with_start(start)) != value
        for start in range(max(1, code.start_hour - reach), code.start_hour + reach + 1)
        if start != code.start_hour
    )


def issue(secret: bytes, window: Window, taken: Iterable[int] = ()) -> tuple[OfflineCode, str]:
    """The lowest free counter of ``window`` whose PIN is unambiguous, and that PIN.

    ``taken``: counters already issued for this kind and window. Raises
    LocalProtocolError (STORAGE_FULL) when all four are used.
    """
    used = set(taken)
    for counter in range(OFFLINE_CODES_PER_WINDOW):
        if counter in used:
            continue
        code = OfflineCode(window.kind, window.start_hour, window.end_hour, counter)
        if unambiguous(secret, code):
            return code, derive_pin(secret, code)
    raise LocalProtocolError(
        f"all {OFFLINE_CODES_PER_WINDOW} offline codes of this window are issued", ErrorCode.STORAGE_FULL
    )


# --------------------------------------------------------------------------
# The lock's side: verification and the offline table
# --------------------------------------------------------------------------
class EntryState(Enum):
    ACTIVATED = "activated"  # a long code's first use was accepted
    CONSUMED = "consumed"  # a one-time code was used
    REVOKED = "revoked"


@dataclass(frozen=True)
class TableEntry:
    code: OfflineCode
    state: EntryState

    def expired(self, now: int) -> bool:
        return now >= self.code.ends_at + OFFLINE_CLOCK_TOLERANCE


class Outcome(Enum):
    ACCEPTED = "accepted"
    DENIED = "denied"  # recognised, refused (reason says why)
    NO_MATCH = "no_match"  # not an offline code: an incorrect PIN


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    code: OfflineCode | None = None
    reason: AccessDenial | None = None


NO_MATCH = Verdict(Outcome.NO_MATCH)


@dataclass
class OfflineTable:
    """What a lock keeps about offline codes: its secret and at most 64 entries.

    ``enter`` and ``revoke`` change it; a lock writes it to flash before it acts
    (unlocks, answers) on the result.
    """

    secret: bytes | None = field(default=None, repr=False)
    generation: int = 0
    entries: list[TableEntry] = field(default_factory=list)
    size: int = OFFLINE_TABLE_SIZE
    #: Wrong 10-digit entries not yet forgotten, and when (monotonic) the next one is.
    misses: int = 0
    miss_decay_at: float = 0.0

    def set_secret(self, secret: bytes, generation: int) -> bool:
        """Install a secret; False if it was already installed (nothing changes then)."""
        check_secret(secret)
        if secret == self.secret and generation == self.generation:
            return False
        self.secret, self.generation = secret, generation
        self.entries.clear()  # every entry was about a code of the old secret
        return True

    def _prune(self, now: int) -> None:
        self.entries = [entry for entry in self.entries if not entry.expired(now)]

    def _find(self, code: OfflineCode) -> int | None:
        for index, entry in enumerate(self.entries):
            if entry.code == code:
                return index
        return None

    def _decay(self, monotonic: float) -> None:
        while self.misses and monotonic >= self.miss_decay_at:
            self.misses -= 1
            self.miss_decay_at += OFFLINE_MISS_DECAY

    def enter(self, digits: str, now: int, monotonic: float) -> Verdict:
        """A 10-digit PIN typed on the keypad at lock time ``now`` (RTC, Unix seconds).

        ``monotonic``: the lock's monotonic timer (seconds), which paces the miss count:
        a correct PIN does not reset it, one miss is forgotten per OFFLINE_MISS_DECAY,
        and at OFFLINE_MISS_LIMIT every 10-digit entry is refused unchecked.
        """
        if len(digits) != OFFLINE_PIN_DIGITS:
            return NO_MATCH
        self._decay(monotonic)
        if self.misses >= OFFLINE_MISS_LIMIT:
            return NO_MATCH
        verdict = self._check(digits, now)
        if verdict.outcome is Outcome.NO_MATCH:
            if not self.misses:
                self.miss_decay_at = monotonic + OFFLINE_MISS_DECAY
            self.misses += 1
        return verdict

    def _check(self, digits: str, now: int) -> Verdict:
        parsed = parse_pin(digits)
        if parsed is None or self.secret is None:
            return NO_MATCH
        self._prune(now)
        secret = self.secret
        # A code already in the table: its state decides, whatever the start hour.
        for index, entry in enumerate(self.entries):
            code = entry.code
            if (code.kind, code.hours, code.counter) != (parsed.kind, parsed.hours, parsed.counter):
                continue
            if secret_value(secret, code) != parsed.value:
                continue
            if entry.state is EntryState.REVOKED:
                return Verdict(Outcome.DENIED, code, AccessDenial.REVOKED)
            if entry.state is EntryState.CONSUMED:
                return Verdict(Outcome.DENIED, code, AccessDenial.ALREADY_USED)
            if code.starts_at - OFFLINE_CLOCK_TOLERANCE <= now:
                return Verdict(Outcome.ACCEPTED, code)
            del self.entries[index]  # the clock went back before the start: forget the activation
            break
        for start in candidate_starts(parsed, now):
            try:
                code = OfflineCode(parsed.kind, start, start + parsed.hours, parsed.counter)
            except LocalProtocolError:
                continue
            if secret_value(secret, code) != parsed.value:
                continue
            if not code.remembered:
                return Verdict(Outcome.ACCEPTED, code)
            if len(self.entries) >= self.size:
                return Verdict(Outcome.DENIED, code, AccessDenial.TABLE_FULL)
            state = EntryState.CONSUMED if code.kind is OfflineKind.ONE_TIME else EntryState.ACTIVATED
            self.entries.append(TableEntry(code, state))
            return Verdict(Outcome.ACCEPTED, code)
        return NO_MATCH

    def revoke(self, code: OfflineCode, now: int) -> bool:
        """Refuse ``code`` from now on; False if the table has no room (nothing changed)."""
        self._prune(now)
        if now >= code.ends_at + OFFLINE_CLOCK_TOLERANCE:
            return True  # over already: nothing to remember
        index = self._find(code)
        if index is not None:
            self.entries[index] = TableEntry(code, EntryState.REVOKED)
            return True
        if len(self.entries) >= self.size:
            return False
        self.entries.append(TableEntry(code, EntryState.REVOKED))
        return True

    def free(self, now: int) -> int:
        self._prune(now)
        return self.size - len(self.entries)

    # Persistence (the lock's flash; the secret is sealed with the rest of the state).
    def to_dict(self, monotonic: float = 0.0) -> dict[str, object]:
        return {
            "secret": self.secret.hex() if self.secret else None,
            "generation": self.generation,
            "misses": self.misses,
            "miss_decay_in": max(0.0, self.miss_decay_at - monotonic),
            "entries": [[int(e.code.kind), e.code.start_hour, e.code.end_hour, e.code.counter, e.state.value]
                        for e in self.entries],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object] | None, monotonic: float = 0.0) -> OfflineTable:
        table = cls()
        if not data:
            return table
        table.misses = int(str(data.get("misses", 0)))
        table.miss_decay_at = monotonic + float(str(data.get("miss_decay_in", 0.0)))
        secret = data.get("secret")
        table.secret = bytes.fromhex(str(secret)) if secret else None
        table.generation = int(str(data.get("generation", 0)))
        raw = data.get("entries") or []
        assert isinstance(raw, list)
        table.entries = [TableEntry(OfflineCode(OfflineKind(k), s, e, c), EntryState(state))
                         for k, s, e, c, state in raw]
        return table
