"""An offline access code end to end: a lock no bridge reaches opens for a PIN the cloud derived,
and Seam hears of the use (with the time it happened) once the bridge reaches the lock again."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.seam import poll, virtual_locks
from tests.e2e.test_bridge_agent import _iso, seam, webhooks  # noqa: F401  (module fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_sandbox"), pytest.mark.timeout(240)]


def _fault(live_sandbox, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "firmware_bridge.cli", "fault", "--lock", "Garage", *args,
                           "--state-dir", str(live_sandbox.var_dir / "bridge")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_a_lock_no_bridge_reaches_opens_for_an_offline_code_and_reports_it_later(live_sandbox, seam, webhooks):  # noqa: F811
    api, locks = seam
    lock_id = locks["Garage"]["lock_id"]
    # The agent installed the lock's offline secret at its first reconciliation.
    lock = poll(lambda: api.call("GET", f"/locks/{lock_id}").json(),
                lambda lock: lock.get("can_program_offline_access_codes"), 60)
    assert lock["can_program_offline_access_codes"] is True, lock

    # Out of the bridge's reach (`firmware-bridge fault unreachable`), the link dropped.
    mark = webhooks.mark()
    _fault(live_sandbox, "unreachable", "25")
    _fault(live_sandbox, "disconnect")
    _fault(live_sandbox, "door", "open")  # something to report: the agent tries, and fails
    webhooks.wait("device.offline", timeout=30, since=mark, lock_id=lock_id)

    # Created while the lock is unreachable: answered at once, nothing has to reach the lock.
    now = datetime.now(UTC)
    created = api.call("POST", f"/locks/{lock_id}/access_codes", json={
        "name": "Offline guest", "is_offline_access_code": True, "starts_at": _iso(now + timedelta(seconds=5)),
        "ends_at": _iso(now + timedelta(hours=2))})
    assert created.status_code in (200, 201), created.text
    code = created.json()
    assert code["status"] == "set" and len(code["code"]) == 10
    webhooks.wait("access_code.created", since=mark, access_code_id=code["access_code_id"])

    # The guest types it; the lock checks it on its own clock.
    typed_at = datetime.now(UTC)
    answer = virtual_locks(live_sandbox.var_dir, {"op": "enter_pin", "lock": lock_id, "pin": code["code"]})
    assert answer["event"] == "UnlockedEvent", answer
    assert api.call("GET", f"/locks/{lock_id}").json()["online"] is False  # nobody has told the cloud yet

    # Back in reach: the use comes with the next connection, timed when it happened.
    online = webhooks.wait("device.online", timeout=60, since=mark, lock_id=lock_id)
    used = webhooks.wait("access_code.used", timeout=60, since=mark, access_code_id=code["access_code_id"])
    assert used["_signature"] == "valid" and used["device_id"] == lock_id
    happened = datetime.fromisoformat(used["timestamp"].replace("Z", "+00:00"))
    assert abs((happened - typed_at).total_seconds()) < 5
    assert happened < datetime.fromisoformat(online["timestamp"].replace("Z", "+00:00"))

    # Deleting it answers at once; the revocation waits on the cloud for the lock's next sync.
    deleted = api.call("DELETE", f"/access_codes/{code['access_code_id']}").json()
    assert deleted["revocation_queued"] is True and deleted["message"]
    virtual_locks(live_sandbox.var_dir, {"op": "set_door", "state": "closed", "lock": lock_id})
    virtual_locks(live_sandbox.var_dir, {"op": "manual_turn", "lock": lock_id})  # locked again
