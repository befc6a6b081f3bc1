"""A lock's device key must be random and its own: a weak key falls to offline guessing
against the lock's CHALLENGE, and a shared key opens two locks."""

from __future__ import annotations

import secrets

import pytest

from provider.cli import locks as locks_cli
from provider.extensions import db
from provider.models import Lock
from provider.services import bridges, locks

WEAK = [
    "00" * 16,
    "ff" * 16,
    "0123" * 8,
    "deadbeef" * 4,
    "0011223344556677" * 2,
    bytes(range(16)).hex(),
    bytes(range(255, 239, -1)).hex(),
    "0102030401020304" + "0506070805060708",
]


@pytest.fixture
def bridge(account):
    row, _ = bridges.create_bridge(account.id, "Hall")
    db.session.commit()
    return row


def _add(account, bridge, key, n=1):
    return locks.add_lock(
        owner_id=account.id, bridge=bridge, name=f"Door {n}",
        ble_address=f"C0:FF:EE:00:00:{n:02X}", device_key_hex=key,
    )


@pytest.mark.parametrize("key", WEAK)
def test_a_low_entropy_device_key_is_refused(account, bridge, key):
    with pytest.raises(locks.LockRegistrationError, match="not random"):
        _add(account, bridge, key)


def test_a_device_key_of_another_lock_is_refused(account, other_account, bridge):
    key = secrets.token_hex(16)
    _add(account, bridge, key)
    db.session.commit()
    other_bridge, _ = bridges.create_bridge(other_account.id, "Other")
    with pytest.raises(locks.LockRegistrationError, match="already used"):
        locks.add_lock(owner_id=other_account.id, bridge=other_bridge, name="Theirs",
                       ble_address="C0:FF:EE:00:00:99", device_key_hex=key.upper())


def test_random_keys_are_accepted_and_stored_only_encrypted_and_fingerprinted(account, bridge):
    for n in range(1, 21):
        key = secrets.token_hex(16)
        lock = _add(account, bridge, key, n)
        assert key not in (lock.device_key_enc + (lock.device_key_fingerprint or ""))
    db.session.commit()
    assert db.session.query(Lock).count() == 20


def test_the_cli_refuses_an_all_zero_key(app, account, bridge):
    result = app.test_cli_runner().invoke(
        locks_cli.locks,
        args=["add", "--owner", "jane@example.com", "--bridge", bridge.id, "--name", "X",
              "--ble-address", "aa:bb:cc:dd:ee:02", "--device-key", "0" * 32],
    )
    assert result.exit_code != 0
    assert "not random" in result.output


@pytest.mark.parametrize("key", WEAK)
def test_one_rule_for_every_way_a_key_arrives(account, bridge, key):
    """The factory manifest, `provider locks add` and a rotation ask the same check."""
    from provider.services import device_keys

    reason = device_keys.weakness(bytes.fromhex(key))
    assert reason is not None
    with pytest.raises(locks.LockRegistrationError) as err:
        _add(account, bridge, key)
    assert reason in str(err.value)


def test_a_key_with_few_distinct_bytes_is_weak_everywhere():
    from provider.services import device_keys

    nine_values = bytes([7, 1, 9, 3, 200, 42, 42, 9, 1, 77, 3, 200, 150, 7, 99, 150])
    assert len(set(nine_values)) == 9
    assert device_keys.weakness(nine_values) == "it has only 9 distinct byte values"
