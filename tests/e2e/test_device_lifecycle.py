"""A lock's life on the live sandbox: from the factory manifest to the front door and back.

import -> label -> claim (vendor app) -> Seam hears device.added -> share with john ->
john's Seam sees the lock -> transfer to john -> a key rotation with the link dropped
after COMMIT_KEY -> unclaim. Each step through the same commands and APIs a vendor,
an owner and Seam use; every wait is bounded.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
import requests

from certify.http import Http
from certify.oauth_driver import Browser
from tests.e2e.seam import REDIRECT_URI, SeamApi, Webhooks, poll, sign_in, virtual_locks

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_sandbox"), pytest.mark.timeout(300)]

VENDOR_SCOPE = "locks.read locks.write devices.manage"
SERIAL = "E2E-000001"


def _provider(sandbox, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "provider.cli", *args], env=sandbox.environment(),
                          cwd=sandbox.var_dir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _vendor_sign_in(base_url: str, client_id: str, secret: str, email: str, password: str) -> SeamApi:
    """The vendor's app signs the owner in with the same OAuth flow, asking for devices.manage."""
    state = secrets.token_urlsafe(8)
    flow = Browser(Http(base_url), email, password).authorize("/oauth/authorize", {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": VENDOR_SCOPE, "state": state})
    assert flow.redirect, flow.error
    token = requests.post(base_url + "/oauth/token", data={
        "grant_type": "authorization_code", "code": flow.params["code"], "redirect_uri": REDIRECT_URI,
    }, auth=(client_id, secret), timeout=10)
    assert token.status_code == 200, token.text
    return SeamApi(base_url, token.json()["access_token"])


@pytest.fixture(scope="module")
def vendor_app(live_sandbox):
    out = _provider(live_sandbox, "clients", "create", "Vendor app", "--redirect-uri", REDIRECT_URI,
                    "--scope", VENDOR_SCOPE)
    client_id = out.split("client_id:")[1].split()[0]
    secret = out.split("client_secret:")[1].split()[0]
    return lambda email, password: _vendor_sign_in(live_sandbox.base_url, client_id, secret, email, password)


def test_from_the_factory_to_the_front_door_and_back(live_sandbox, vendor_app, tmp_path):
    base = live_sandbox.base_url
    manifest = tmp_path / "batch.csv"
    manifest.write_text(
        "serial,ble_address,model,hardware_revision,firmware_version,device_key,offline_code_secret\n"
        f"{SERIAL},D2:E2:E0:00:00:01,HALO-01,C,1.4.2,{secrets.token_hex(16)},{secrets.token_hex(32)}\n")
    assert "imported: 1 devices" in _provider(live_sandbox, "devices", "import", str(manifest))
    labels = tmp_path / "labels.pdf"
    out = _provider(live_sandbox, "devices", "label", SERIAL, "-o", str(labels), "--show-codes")
    code = out.split(SERIAL + " ")[1].split()[0]
    assert labels.read_bytes().startswith(b"%PDF")

    jane_seam = SeamApi(base, sign_in(base, "jane@example.com", "1234")["access_token"])
    john_seam = SeamApi(base, sign_in(base, "john@example.com", "5678")["access_token"])
    jane_app, john_app = vendor_app("jane@example.com", "1234"), vendor_app("john@example.com", "5678")
    [jane_bridge] = [b for b in jane_app.call("GET", "/bridges").json()["bridges"]]
    [john_bridge] = [b for b in john_app.call("GET", "/bridges").json()["bridges"]]

    with Webhooks(base) as hooks:
        # The owner scans the box; Seam hears of the new lock; jane's bridge serves it.
        claimed = jane_app.call("POST", "/devices/claim", json={
            "claim_code": f"{base}/account/claim?code={code}", "name": "Studio door",
            "bridge_id": jane_bridge["bridge_id"]})
        assert claimed.status_code == 201, claimed.text
        lock_id = claimed.json()["lock_id"]
        added = hooks.wait("device.added", device_id=lock_id)
        assert added["_signature"] == "valid"
        assert lock_id in [lock["lock_id"] for lock in jane_seam.call("GET", "/locks").json()["locks"]]
        # The claim's key rotation runs through the bridge, then the lock answers Seam.
        poll(lambda: _provider(live_sandbox, "locks", "key-rotations", "--lock", lock_id),
             lambda out: "\tcompleted\t" in out, 60)
        action = jane_seam.call("POST", f"/locks/{lock_id}/actions", json={"action": "unlock"}).json()
        assert jane_seam.wait_action(lock_id, action["action_id"], 60)["status"] == "success"

        # Shared with john as a user: his Seam sees it, may unlock, may not touch codes.
        mark = hooks.mark()
        shared = jane_app.call("POST", f"/locks/{lock_id}/shares", json={"email": "john@example.com",
                                                                         "role": "user"})
        assert shared.status_code == 201, shared.text
        hooks.wait("device.added", since=mark, device_id=lock_id)
        johns = {lock["lock_id"]: lock for lock in john_seam.call("GET", "/locks").json()["locks"]}
        assert johns[lock_id]["role"] == "user"
        assert john_seam.call("GET", f"/locks/{lock_id}/access_codes").status_code == 403

        # Sold to john: jane's clients lose it, john's get it, then john's bridge serves it.
        mark = hooks.mark()
        moved = jane_app.call("POST", f"/locks/{lock_id}/transfer", json={"to_email": "john@example.com"})
        assert moved.status_code == 200, moved.text
        hooks.wait("device.removed", since=mark, device_id=lock_id)
        assert jane_seam.call("GET", f"/locks/{lock_id}").status_code == 404
        assigned = john_app.call("PUT", f"/locks/{lock_id}/bridge", json={"bridge_id": john_bridge["bridge_id"]})
        assert assigned.status_code == 200, assigned.text
        poll(lambda: _provider(live_sandbox, "locks", "key-rotations", "--lock", lock_id),
             lambda out: out.count("\tcompleted\t") == 2, 90)

        # The operator rotates again; the link drops right after the lock switched keys.
        # Only john's bridge hosts it now (jane's dropped it from its list).
        poll(lambda: virtual_locks(live_sandbox.var_dir, {"op": "locks"}),
             lambda answer: [lock["lock_id"] for lock in answer.get("locks", [])].count(lock_id) == 1, 30)
        armed = virtual_locks(live_sandbox.var_dir, {"op": "fault", "lock": lock_id,
                                                     "name": "disconnect_after_opcode", "value": 0x0A})
        assert armed.get("ok"), armed
        assert "rotation 3" in _provider(live_sandbox, "locks", "rotate-key", "--lock", lock_id)
        history = poll(lambda: _provider(live_sandbox, "locks", "key-rotations", "--lock", lock_id),
                       lambda out: out.count("\tcompleted\t") == 3, 90)
        assert history.count("\tcompleted\t") == 3, history
        # Lock and cloud agree on the key: john's Seam still opens it.
        action = john_seam.call("POST", f"/locks/{lock_id}/actions", json={"action": "lock"}).json()
        assert john_seam.wait_action(lock_id, action["action_id"], 60)["status"] == "success"

        # Unclaimed: john's clients lose it, and the answer carries the next owner's code.
        mark = hooks.mark()
        released = john_app.call("POST", f"/locks/{lock_id}/unclaim")
        assert released.status_code == 200 and released.json()["claim_code"]
        hooks.wait("device.removed", since=mark, device_id=lock_id)
        assert lock_id not in [lock["lock_id"] for lock in john_seam.call("GET", "/locks").json()["locks"]]
