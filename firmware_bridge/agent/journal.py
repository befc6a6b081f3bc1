"""The agent's durable command journal: a small SQLite file in the state directory.

Every command is written as `started` before the lock is touched and as
`done` (with its result) right after, then `reported` once the provider has
confirmed the result.  After a crash, a restart or a lost report:

* `done`, not reported -> the stored result is reported again, the lock is not touched;
* `done`, reported, and the provider sends it again (its lease ran out first)
  -> the stored result is reported again, the lock is not touched;
* `started` only -> the agent died while the lock was acting; the worker
  decides from the lock's own state (see worker.LockWorker._resume).

No PIN, key or token is ever written here: only ids, types and results.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.agent.model import Command, Result

STARTED = "started"
DONE = "done"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    lock_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    phase      TEXT NOT NULL,
    status     TEXT,
    error_code TEXT,
    message    TEXT,
    reported   INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_unreported ON commands (reported, phase);
"""
#: Journal rows older than this (reported) are pruned; the provider's lease and expiry are far shorter.
KEEP_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Entry:
    command_id: str
    lock_id: str
    type: str
    phase: str
    result: Result | None
    reported: bool


class Journal:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a `done` row must survive a power cut, or the command could run twice.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute("DELETE FROM commands WHERE reported = 1 AND updated_at < ?",
                             (time.time() - KEEP_SECONDS,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, command_id: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT command_id, lock_id, type, phase, status, error_code, message, reported "
                "FROM commands WHERE command_id = ?", (command_id,)).fetchone()
        return _entry(row) if row else None

    def start(self, command: Command) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO commands (command_id, lock_id, type, phase, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (command_id) DO UPDATE SET updated_at = excluded.updated_at",
                (command.command_id, command.lock_id, command.type, STARTED, time.time()))

    def finish(self, command: Command, result: Result) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO commands (command_id, lock_id, type, phase, status, error_code, message, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE SET "
                "phase = excluded.phase, status = excluded.status, error_code = excluded.error_code, "
                "message = excluded.message, updated_at = excluded.updated_at",
                (command.command_id, command.lock_id, command.type, DONE, result.status,
                 result.error_code, result.message, time.time()))

    def mark_reported(self, command_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE commands SET reported = 1, updated_at = ? WHERE command_id = ?",
                             (time.time(), command_id))

    def unreported(self) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT command_id, lock_id, type, phase, status, error_code, message, reported "
                "FROM commands WHERE reported = 0 AND phase = ? ORDER BY updated_at", (DONE,)).fetchall()
        return [_entry(row) for row in rows]


def _entry(row: tuple) -> Entry:
    command_id, lock_id, type_, phase, status, error_code, message, reported = row
    result = Result(status, error_code, message) if phase == DONE else None
    return Entry(command_id, lock_id, type_, phase, result, bool(reported))
