"""Who owns a factory device: claiming with the box's code, transfer, unclaim, factory reset.

Every change of owner is one transaction with its events: device.removed for
the accounts that lose the lock (the owner and everyone it was shared with),
device.added for the one that gains it. The managed codes are wiped: the
cloud forgets them at once, and the lock loses them at its next connection,
when the bridge converges the lock's code table with the (now empty) one of
the cloud (docs/bridge-agent.md, reconciliation). Open commands are cancelled.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from provider.clock import now
from provider.errors import ApiError
from provider.extensions import db
from provider.models import (
    AccessCode,
    Account,
    Action,
    Bridge,
    Command,
    FactoryDevice,
    KeyRotation,
    Lock,
)
from provider.models.device import OPEN_COMMAND_STATUSES
from provider.services import (
    bridge_assignment,
    bridges,
    crypto,
    device_keys,
    factory,
    key_rotation,
    offline_codes,
)
from provider.services.events import record_event
from provider.services.locks import (
    DEVICE_KEY_PURPOSE,
    key_fingerprint,
    remove_lock,
    unshare_all,
    validate_lock_fields,
)
from provider.services.locks import (
    device_key as lock_device_key,
)


def _no_such_code() -> ApiError:
    # One answer for a mistyped, used and unknown code: the code is the only secret here.
    return ApiError(404, "CLAIM_CODE_NOT_FOUND", "No unclaimed device has this claim code.")


def claim(
    account_id: str,
    code: str,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    bridge_id: str | None = None,
) -> Lock:
    """The device whose label carries `code` becomes the account's lock (device.added)."""
    normalized = factory.normalize_claim_code(code)
    if normalized is None:
        raise ApiError(400, "INVALID_CLAIM_CODE",
                          "A claim code is 16 letters and digits, as printed on the box.")
    bridge = _owners_bridge(account_id, bridge_id)
    validate_lock_fields(name=name or "x", timezone=timezone)
    digest = factory.claim_code_hash(normalized)
    device = db.session.scalar(select(FactoryDevice).where(FactoryDevice.claim_code_hash == digest))
    if device is None:
        raise _no_such_code()
    # Conditional: of two claims racing with one code, exactly one wins.
    won = db.session.execute(
        update(FactoryDevice)
        .where(FactoryDevice.id == device.id, FactoryDevice.claim_code_hash == digest,
               FactoryDevice.claimed_at.is_(None))
        .values(claim_code_hash=None, claimed_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise _no_such_code()
    db.session.refresh(device)
    lock = Lock(
        owner_id=account_id,
        bridge_id=bridge.id if bridge else None,
        device_id=device.id,
        name=(name or f"{device.model} {device.serial[-4:]}").strip(),
        model=device.model,
        serial_number=device.serial,
        firmware_version=device.firmware_version,
        timezone=timezone,
        ble_address=device.ble_address,
        device_key_enc=crypto.encrypt(factory.device_key(device), purpose=DEVICE_KEY_PURPOSE),
        device_key_fingerprint=key_fingerprint(factory.device_key(device)),
        event_seq=0,
    )
    db.session.add(lock)
    db.session.flush()
    if bridge is None and (heard := bridge_assignment.hearing(lock)):
        lock.bridge_id = heard[0][0].id  # the owner's bridge that hears it loudest
    record_event("device.added", device=lock, data={"lock_id": lock.id, "device_type": "smart_lock"})
    _carry_on_rotation(device, lock)
    # The factory (and any earlier owner's bridge) knew this key: the new owner gets a fresh one.
    key_rotation.schedule(lock, "transfer")
    # Likewise the offline-code secret: codes the factory or an earlier owner could derive die
    # when the lock takes the new one.
    offline_codes.new_secret(lock)
    return lock


def _carry_on_rotation(device: FactoryDevice, lock: Lock) -> None:
    if device.pending_key_enc is None or device.pending_rotation_no is None:
        return
    db.session.add(KeyRotation(lock_id=lock.id, rotation_no=device.pending_rotation_no,
                               new_key_enc=device.pending_key_enc, status="pending", reason="transfer",
                               attempts=0, created_at=now()))
    device.pending_key_enc = device.pending_rotation_no = None
    db.session.flush()


def _owners_bridge(account_id: str, bridge_id: str | None) -> Bridge | None:
    return bridges.owned_bridge(account_id, bridge_id) if bridge_id is not None else None


def _forget(lock: Lock) -> None:
    """Everyone it was shared with loses the lock; its codes, commands and actions are forgotten."""
    unshare_all(lock)
    db.session.execute(
        update(Command)
        .where(Command.lock_id == lock.id, Command.status.in_(OPEN_COMMAND_STATUSES))
        .values(status="cancelled", completed_at=now(), error_code="LOCK_CHANGED_OWNER")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(delete(AccessCode).where(AccessCode.lock_id == lock.id))
    db.session.execute(delete(Action).where(Action.lock_id == lock.id))


def transfer(lock: Lock, to_email: str) -> Lock:
    """Hands the lock to another account, as a sale would: nothing of the old owner comes along."""
    target = db.session.scalar(select(Account).where(Account.email == to_email.strip().lower()))
    if target is None:
        raise ApiError(404, "ACCOUNT_NOT_FOUND", "No account has this email address.")
    if target.id == lock.owner_id:
        raise ApiError(409, "ALREADY_OWNER", "This account already owns the lock.")
    _forget(lock)
    record_event("device.removed", device=lock, data={"lock_id": lock.id})
    lock.owner_id = target.id
    bridge = db.session.get(Bridge, lock.bridge_id) if lock.bridge_id else None
    if bridge is not None and bridge.owner_id != target.id:
        bridge_assignment.detach(lock, announce=False)  # the old owner's bridge no longer serves it
    db.session.flush()
    key_rotation.schedule(lock, "transfer")  # the old owner's bridge knew the key
    offline_codes.new_secret(lock)  # and the old owner could derive offline codes
    record_event("device.added", device=lock, data={"lock_id": lock.id, "device_type": "smart_lock"})
    return lock


def release(lock: Lock) -> str | None:
    """The lock goes back to the unclaimed shelf: returns a fresh claim code (None for legacy locks).

    The owner passes the code to the next owner (it replaces the one on the box).
    """
    device = db.session.get(FactoryDevice, lock.device_id) if lock.device_id else None
    if device is not None:
        _keep_keys(device, lock)
    remove_lock(lock)
    if device is None:
        return None
    code = factory.new_claim_code()
    device.claimed_at = None
    device.claim_code_hash = factory.claim_code_hash(factory.normalize_claim_code(code) or "")
    device.claim_code_issued_at = now()
    return code


def _keep_keys(device: FactoryDevice, lock: Lock) -> None:
    """The shelf keeps the key the lock holds now (rotations changed it) and any rotation in flight."""
    current = bytes.fromhex(lock_device_key(lock))
    device.device_key_enc = crypto.encrypt(current.hex(), purpose=DEVICE_KEY_PURPOSE)
    device.device_key_digest = device_keys.digest(current)
    rotation = key_rotation.pending(lock.id)
    device.pending_key_enc = rotation.new_key_enc if rotation else None
    device.pending_rotation_no = rotation.rotation_no if rotation else None


def factory_reset(device: FactoryDevice) -> tuple[str | None, str]:
    """The device was reset on the line: it leaves its owner (everyone who could use it loses it)
    and gets a new claim code. Returns (the id of the lock removed, or None; the new code)."""
    from provider.services import factory

    lock = lock_of_device(device)
    if lock is not None:
        lock_id = lock.id
        return lock_id, release(lock) or ""
    [(_, code)] = factory.issue_claim_codes([device.serial])
    return None, code


def lock_of_device(device: FactoryDevice) -> Lock | None:
    return db.session.scalar(select(Lock).where(Lock.device_id == device.id))
