"""Device-key rotation over the virtual link, with the link dropped at every step."""

from __future__ import annotations

import pytest

from firmware_bridge.lock_client import LockAuthenticationError, LockClient, LockDisconnected
from firmware_bridge.protocol import const
from firmware_bridge.protocol.const import Opcode
from tests.firmware_bridge.test_client import FAST, KEY, harness, run

NEW_KEY = bytes.fromhex("9a4c1e07d2b85f36e1a0c47b2d9e6f13")


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


def test_a_rotation_switches_the_lock_to_the_new_key_and_the_old_one_stops_working():
    async def scenario():
        async with harness() as h:
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
def test_a_link_lost_at_any_step_still_ends_on_the_new_key(fault, opcode):
    async def scenario():
        async with harness() as h:
            setattr(h.lock.faults, fault, int(opcode))
            assert await h.client.rotate_key(6, NEW_KEY) is True
            assert getattr(h.lock.faults, fault) is None  # the fault really fired
            assert h.lock.device_key == NEW_KEY
            await h.client.disconnect()
            assert await _connects_with(h, NEW_KEY)

    run(scenario)


@pytest.mark.parametrize("opcode", [Opcode.ROTATE_KEY, Opcode.COMMIT_KEY])
def test_a_rotation_that_gives_up_leaves_one_key_both_sides_know_and_finishes_later(opcode):
    async def scenario():
        async with harness() as h:
            faults = h.lock.faults
            faults.disconnect_after_opcode = int(opcode)
            # The retry fails too: the client gives up, the lock holds the old or the new key.
            h.client.timeouts = FAST
            original = h.peripheral.lock.handle

            def handle_and_rearm(request):
                response = original(request)
                if request.OPCODE == opcode and faults.disconnect_after_opcode is None and not rearmed:
                    rearmed.append(True)
                    faults.disconnect_after_opcode = int(opcode)
                return response

            rearmed: list[bool] = []
            h.peripheral.lock.handle = handle_and_rearm
            with pytest.raises(LockDisconnected):
                await h.client.rotate_key(7, NEW_KEY)
            h.peripheral.lock.handle = original
            assert h.lock.device_key in (bytes.fromhex(KEY), NEW_KEY)
            # A bridge offering both keys always gets in, and the same rotation completes.
            again = _client(h, KEY, NEW_KEY)
            assert await again.rotate_key(7, NEW_KEY) is True
            assert h.lock.device_key == NEW_KEY
            await again.disconnect()

    run(scenario)


def test_commit_without_a_pending_key_is_refused():
    async def scenario():
        async with harness() as h:
            from firmware_bridge.lock_client import LockRefused
            from firmware_bridge.protocol.messages import CommitKeyRequest, CommitKeyResponse

            with pytest.raises(LockRefused) as err:
                await h.client._request(lambda rid: CommitKeyRequest(rid, 9), CommitKeyResponse,
                                        FAST.code_write, retry_safe=True)
            assert err.value.error_code is const.ErrorCode.NO_PENDING_KEY
            assert h.lock.device_key == bytes.fromhex(KEY)

    run(scenario)


def test_factory_reset_needs_the_button_held():
    async def scenario():
        async with harness() as h:
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


def test_the_rotation_state_survives_a_restart_of_the_lock():
    from firmware_bridge.simulator.lock import VirtualLock

    lock = VirtualLock()
    lock.install_key(bytes.fromhex(KEY))
    lock.pending_key, lock.pending_rotation = NEW_KEY, 3
    again = VirtualLock.from_dict(lock.to_dict())
    assert (again.device_key, again.pending_key, again.pending_rotation) == (bytes.fromhex(KEY), NEW_KEY, 3)
