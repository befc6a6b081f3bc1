from __future__ import annotations

from firmware_bridge.agent.journal import DONE, STARTED, Journal
from firmware_bridge.agent.model import Command, Result


def _command(command_id: str = "c1") -> Command:
    return Command(command_id, "lock-1", "put_code", {"code": "482913", "slot": 1})


def test_phases_survive_reopen(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.start(_command("c1"))
    journal.start(_command("c2"))
    journal.finish(_command("c2"), Result.failed("LOCK_JAMMED", "jammed"))
    journal.close()

    journal = Journal(path)
    assert journal.get("c1").phase == STARTED
    assert journal.get("c1").result is None
    entry = journal.get("c2")
    assert entry.phase == DONE and entry.result == Result.failed("LOCK_JAMMED", "jammed")
    assert [e.command_id for e in journal.unreported()] == ["c2"]
    journal.mark_reported("c2")
    assert journal.unreported() == []
    assert journal.get("missing") is None


def test_no_pin_written(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.finish(_command(), Result.ok())
    journal.close()
    for file in tmp_path.iterdir():
        assert b"482913" not in file.read_bytes()
