"""The same system with the C firmware core in every virtual lock (`--engine c`).

A second sandbox whose bridge agents run `CLock` (firmware/, through cffi):
the core does the framing, handshake, records and state machine that the
Python simulator does in the other e2e modules. A representative subset of
the bridge-agent scenarios, and the whole provider-certify run, pass unchanged.

A protocol addition that the C core does not implement yet fails here first:
implement it in firmware/ (the places are named in firmware/README.md), or
mark the scenario xfail here naming the missing message, so the gap is plain.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e import test_bridge_agent as _agent
from tests.e2e import test_certify_sandbox as _certify
from tests.e2e import test_device_lifecycle as _lifecycle
from tests.e2e.conftest import E2E_ENV
from tests.firmware.engine import require_c_engine
from tests.live import LiveSandbox

# Collected in this order (file order, as in their own modules): the bridge kill comes last.
seam, webhooks = _agent.seam, _agent.webhooks
test_oauth_unlock_reaches_the_virtual_lock_and_the_webhook = _agent.test_oauth_unlock_reaches_the_virtual_lock_and_the_webhook
test_time_bound_code_on_the_keypad = _agent.test_time_bound_code_on_the_keypad
test_code_programmed_at_the_keypad_is_unmanaged_kept_converted_and_deleted = (
    _agent.test_code_programmed_at_the_keypad_is_unmanaged_kept_converted_and_deleted)
test_jam_fails_the_action = _agent.test_jam_fails_the_action
test_battery_drop_reported = _agent.test_battery_drop_reported
test_clock_drift_reported_and_corrected = _agent.test_clock_drift_reported_and_corrected
# Claim, transfer and operator rotations (one cut off after COMMIT_KEY) run ROTATE_KEY/COMMIT_KEY in C.
vendor_app = _lifecycle.vendor_app
test_from_the_factory_to_the_front_door_and_back = _lifecycle.test_from_the_factory_to_the_front_door_and_back
test_bridge_killed_then_restarted_loses_nothing = _agent.test_bridge_killed_then_restarted_loses_nothing
certify_run = _certify.certify_run
test_check_passes_against_the_sandbox = _certify.test_check_passes_against_the_sandbox
test_exit_status_and_reports = _certify.test_exit_status_and_reports
test_the_kit_leaves_no_code_and_no_webhook_behind = _certify.test_the_kit_leaves_no_code_and_no_webhook_behind

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_sandbox_c"), pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def live_sandbox(tmp_path_factory):
    require_c_engine()
    sandbox = LiveSandbox(
        tmp_path_factory.mktemp("sandbox-c"),
        database_url=os.environ.get("LIVE_SANDBOX_DATABASE_URL") or None,
        env={**E2E_ENV, "FIRMWARE_BRIDGE_LOCK_ENGINE": "c"},
    )
    with sandbox:
        yield sandbox


def test_the_sandbox_locks_run_the_c_core(live_sandbox, seam):
    log = live_sandbox.log_tail(100_000)
    assert "(c engine," in log
    assert "(python engine," not in log
