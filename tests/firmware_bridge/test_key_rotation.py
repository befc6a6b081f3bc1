"""Device-key rotation over the virtual link, with the link dropped at every step.

Every scenario runs on both lock engines: the Python `VirtualLock` and the C
firmware core (`CLock`), which keeps its keys in its own flash records.
"""

from __future__ import annotations

import pytest

from firmware_bridge.lock_client import LockAuthenticationError, LockClient, LockDisconnected
from firmware_bridge.protocol import const
from firmware_bridge.protocol.const import Opcode
from tests.firmware.engine import require_c_engine
from tests.firmware_bridge.test_client import FAST, KEY, run
from tests.firmware_bridge.test_client import harness as _harness

NEW_KEY = bytes.fromhex("9a4c1e07d2b85f36e1a0c47b2d9e6f13")

pytestmark = pytest.mark.parametrize("engine", ["python", "c"])


@pytest.fixture(autouse=True)
def _engine_available(engine):
    if engine == "c":
        require_c_engine()


def harness(engine, **kwargs):
    return _harness(engine=engine, **kwargs)


def _rearm_after_first(h, opcode, faults, rearmed):
    """Set the after-opcode fault again once it fired: the client's retry is cut off too."""
    lock = h.peripheral.lock
    name = "process" if getattr(lock, "engine", "python") == "c" else "handle"
    original = getattr(lock, name)

    def wrapped(*args):
        running = lock.pending_opcode() if name == "process" else args[0].OPCODE
        result = original(*args)
        if running == opcode and faults.disconnect_after_opcode is None and not rearmed:
            rearmed.append(True)
            faults.disconnect_after_opcode = int(opcode)
        return result

    setattr(lock, name, wrapped)
    return lambda: setattr(lock, name, original)


def _client(h, *keys):
    return LockClient(h.world.ble_device(h.peripheral.address), keys[0], other_keys=keys[1:],
                      backend=h.client._backend, timeouts=FAST)


async def _connects_with(h, key) -> bool:
    client = _client(h, key)
    try:
        await client.connect()
    except LockAuthenticationError:
        return False
    finally:
        await client.disconnect()
    return True


def test_a_rotation_switches_the_lock_to_the_new_key_and_the_old_one_stops_working(engine):
    async def scenario():
        async with harness(engine) as h:
            assert await h.client.rotate_key(5, NEW_KEY) is True
            assert h.lock.device_key == NEW_KEY and h.lock.pending_key is None
            await h.client.disconnect()
            assert await _connects_with(h, NEW_KEY)
            assert not await _connects_with(h, KEY)
            # The rotating client itself reconnects with the new key.
            await h.client.status()

    run(scenario)


@pytest.mark.parametrize(
    ("fault", "opcode"),
    [
        ("disconnect_before_opcode", Opcode.ROTATE_KEY),
        ("disconnect_after_opcode", Opcode.ROTATE_KEY),
        ("disconnect_before_opcode", Opcode.COMMIT_KEY),
        ("disconnect_after_opcode", Opcode.COMMIT_KEY),
    ],
)
def test_a_link_lost_at_any_step_still_ends_on_the_new_key(engine, fault, opcode):
    async def scenario():
        async with harness(engine) as h:
            setattr(h.lock.faults, fault, int(opcode))
            assert await h.client.rotate_key(6, NEW_KEY) is True
            assert getattr(h.lock.faults, fault) is None  # the fault really fired
            assert h.lock.device_key == NEW_KEY
            await h.client.disconnect()
            assert await _connects_with(h, NEW_KEY)

    run(scenario)


@pytest.mark.parametrize("opcode", [Opcode.ROTATE_KEY, Opcode.COMMIT_KEY])
def test_a_rotation_that_gives_up_leaves_one_key_both_sides_know_and_finishes_later(engine, opcode):
    async def scenario():
        async with harness(engine) as h:
            faults = h.lock.faults
            faults.disconnect_after_opcode = int(opcode)
            # The retry fails too: the client gives up, the lock holds the old or the new key.
            h.client.timeouts = FAST
            rearmed: list[bool] = []
            restore = _rearm_after_first(h, opcode, faults, rearmed)
            with pytest.raises(LockDisconnected):
                await h.client.rotate_key(7, NEW_KEY)
            restore()
            assert rearmed
            assert h.lock.device_key in (bytes.fromhex(KEY), NEW_KEY)
            # A bridge offering both keys always gets in, and the same rotation completes.
            again = _client(h, KEY, NEW_KEY)
            assert await again.rotate_key(7, NEW_KEY) is True
            assert h.lock.device_key == NEW_KEY
            await again.disconnect()

    run(scenario)


def test_commit_without_a_pending_key_is_refused(engine):
    async def scenario():
        async with harness(engine) as h:
            from firmware_bridge.lock_client import LockRefused
            from firmware_bridge.protocol.messages import CommitKeyRequest, CommitKeyResponse

            with pytest.raises(LockRefused) as err:
                await h.client._request(lambda rid: CommitKeyRequest(rid, 9), CommitKeyResponse,
                                        FAST.code_write, retry_safe=True)
            assert err.value.error_code is const.ErrorCode.NO_PENDING_KEY
            assert h.lock.device_key == bytes.fromhex(KEY)

    run(scenario)


def test_factory_reset_needs_the_button_held(engine):
    async def scenario():
        async with harness(engine) as h:
            from firmware_bridge.lock_client import LockRefused

            await h.client.put_code(1, "4821", "Cleaner")
            with pytest.raises(LockRefused) as err:
                await h.client.factory_reset()
            assert err.value.error_code is const.ErrorCode.PRESENCE_REQUIRED
            assert h.lock.codes
            h.lock.hold_reset_button()
            await h.client.factory_reset()
            assert not h.lock.codes and h.lock.device_key == bytes.fromhex(KEY)

    run(scenario)


def test_the_rotation_state_survives_a_restart_of_the_lock(engine):
    from firmware_bridge.simulator.engines import lock_from_dict

    async def scenario():
        async with harness(engine) as h:
            from firmware_bridge.protocol.messages import RotateKeyRequest, RotateKeyResponse

            await h.client._request(lambda rid: RotateKeyRequest(rid, 3, NEW_KEY), RotateKeyResponse,
                                    FAST.code_write, retry_safe=True)
            # Powered up again on its flash: the cloud's key is what the peripheral passes.
            again = lock_from_dict(h.lock.to_dict(), device_key=KEY)
            assert (again.device_key, again.pending_key, again.pending_rotation) == (
                bytes.fromhex(KEY), NEW_KEY, 3)

    run(scenario)
