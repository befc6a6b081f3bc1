"""Factory provisioning over the virtual link: keys written once, in factory mode only.

The link scenarios run on both lock engines (the C core parses PROVISION and
writes its own key records).
"""

from __future__ import annotations

import secrets

import pytest

from firmware_bridge.bumble_backend import BumbleClient  # noqa: F401 - registers the bumble backend
from firmware_bridge.bumble_backend.world import VirtualWorld
from firmware_bridge.lock_client import BleBackend, LockAuthenticationError, LockClient, LockRefused
from firmware_bridge.protocol import const
from firmware_bridge.protocol.framing import encode_frame
from firmware_bridge.protocol.provisioning import (
    Provision,
    parse_provisioned,
    proof,
    provisioned_body,
)
from firmware_bridge.simulator.lock import VirtualLock
from tests.firmware.engine import require_c_engine
from tests.firmware_bridge.test_client import FAST, run

KEY = bytes.fromhex("5f1c9e2a7b3d4086c1e9f02a6d7b3c58")
SECRET = bytes.fromhex("a3" + "1f" * 15 + "c7d2e94b06f8a1350b7e2c9d4f6a8e21")
ENGINES = pytest.mark.parametrize("engine", ["python", "c"])


def _new_factory_lock(engine):
    if engine == "c":
        require_c_engine()
        from firmware_bridge.simulator.c_engine import CLock

        return CLock(factory_mode=True, name="VL-factory")
    return VirtualLock(factory_mode=True, name="VL-factory")


async def _factory_lock(world, engine="python"):
    return await world.add_lock(_new_factory_lock(engine))


def _client(world, peripheral, key=KEY):
    return LockClient(world.ble_device(peripheral.address), key, backend=BleBackend.bumble(world.adapter),
                      timeouts=FAST)


@ENGINES
def test_the_line_provisions_a_lock_once_and_it_then_speaks_with_that_key(engine):
    async def scenario():
        async with VirtualWorld() as world:
            peripheral = await _factory_lock(world, engine)
            client = _client(world, peripheral, secrets.token_bytes(16))
            await client.provision("HALO-000042", KEY, SECRET)
            lock = peripheral.lock
            assert (lock.device_key, lock.offline_secret, lock.serial, lock.factory_mode) == (
                KEY, SECRET, "HALO-000042", False)
            await client.status()  # the same client now handshakes with the written key
            await client.disconnect()
            again = _client(world, peripheral, KEY)
            with pytest.raises(LockRefused) as err:
                await again.provision("HALO-000042", secrets.token_bytes(16), SECRET)
            assert err.value.error_code is const.ErrorCode.FACTORY_LOCKED
            assert lock.device_key == KEY
            await again.disconnect()

    run(scenario)


@ENGINES
def test_a_lock_in_factory_mode_refuses_every_handshake(engine):
    async def scenario():
        async with VirtualWorld() as world:
            peripheral = await _factory_lock(world, engine)
            client = _client(world, peripheral)
            with pytest.raises(LockAuthenticationError, match="factory mode"):
                await client.connect()

    run(scenario)


def test_provision_body_round_trips_and_refuses_bad_sizes():
    message = Provision(KEY, SECRET, "HALO-000042")
    assert Provision.from_body(message.body()) == message
    assert "5f1c" not in repr(message)
    from firmware_bridge.protocol.errors import LocalProtocolError, MalformedMessageError

    with pytest.raises(LocalProtocolError):
        Provision(KEY[:8], SECRET, "X")
    with pytest.raises(MalformedMessageError):
        Provision.from_body(message.body()[:-1])
    status, value = parse_provisioned(provisioned_body(const.ErrorCode.OK, proof(KEY, "HALO-000042")))
    assert status is const.ErrorCode.OK and value == proof(KEY, "HALO-000042")


def test_provisioning_state_survives_a_restart():
    lock = VirtualLock(factory_mode=True)
    assert lock.provision(Provision(KEY, SECRET, "HALO-1"))
    again = VirtualLock.from_dict(lock.to_dict())
    assert (again.device_key, again.offline_secret, again.serial, again.factory_mode) == (KEY, SECRET, "HALO-1", False)
    assert not again.provision(Provision(KEY, SECRET, "HALO-1"))


def test_the_c_core_keeps_its_provisioned_keys_across_a_restart():
    require_c_engine()
    from firmware_bridge.simulator.c_engine import CLock
    from firmware_bridge.simulator.engines import lock_from_dict
    from tests.firmware.harness import FixedClock

    lock = CLock(factory_mode=True, time_source=FixedClock())
    out: list[bytes] = []
    lock.notify_sink = lambda chunk, _kind: out.append(chunk)
    lock.radio_connected(247)
    lock.radio_write(encode_frame(Provision(KEY, SECRET, "HALO-1").body()))
    assert parse_provisioned(b"".join(out)[4:-4]) == (const.ErrorCode.OK, proof(KEY, "HALO-1"))
    # Restored with whatever key the caller guesses: the core's own records win, factory mode stays over.
    again = lock_from_dict(lock.to_dict(), device_key=secrets.token_bytes(16))
    assert (again.device_key, again.offline_secret, again.serial, again.factory_mode) == (KEY, SECRET, "HALO-1", False)
    assert again.otp_sealed


@ENGINES
def test_the_bench_cli_provisions_a_virtual_lock_once(tmp_path, engine):
    from click.testing import CliRunner

    from firmware_bridge.cli import main

    if engine == "c":
        require_c_engine()
    state = tmp_path / "lock.json"
    args = ["provision", "--virtual", "--engine", engine, "--state-file", str(state), "--serial", "HALO-000042",
            "--device-key", KEY.hex(), "--offline-secret", SECRET.hex()]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "provisioned: HALO-000042" in first.output
    assert state.exists()
    if engine == "c":  # the C core's flash: its key record
        import json

        saved = json.loads(state.read_text())
        assert saved["engine"] == "c" and str(0x0002) in saved["nvs"]
    second = CliRunner().invoke(main, args)
    assert second.exit_code != 0 and "FACTORY_LOCKED" in second.output
    status = CliRunner().invoke(main, ["status", "--virtual", "--state-file", str(state), "--key", KEY.hex()])
    assert status.exit_code == 0, status.output
