"""The sandbox's demo data, mirroring Seam's Kwikset sandbox. Idempotent.

Each domain adds its own seed step to SEED_STEPS.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from sqlalchemy import select

from provider.extensions import db
from provider.services.accounts import ensure_account

JANE = ("jane@example.com", "1234")
JOHN = ("john@example.com", "5678")


def seed_accounts() -> None:
    ensure_account(*JANE)
    ensure_account(*JOHN)


def seed_devices() -> None:
    from provider.services.device_seed import seed_devices as seed

    seed()


SEAM_CLIENT = ("seam", "seamsecret")
SEAM_REDIRECT_URIS = (
    "https://connect.getseam.com/oauth/callback",
    "https://staging.connect.getseam.com/oauth/callback",
    "http://localhost:3020/oauth/callback",
)


def seed_oauth_client() -> None:
    """Seam's sandbox client; legacy token mode on, so the older guide's token call works too."""
    from provider.services.oauth_clients import ensure_client

    ensure_client(*SEAM_CLIENT, "Seam", SEAM_REDIRECT_URIS, "locks.read locks.write",
                  legacy_token_mode=True)


SEED_STEPS: list[Callable[[], None]] = [seed_accounts, seed_oauth_client, seed_devices]


def seed_sandbox() -> None:
    for step in SEED_STEPS:
        step()
        db.session.commit()


def describe_sandbox(base_url: str, bridge_url: str | None = None) -> str:
    """What a newcomer needs to start using the sandbox (`bridge_url`: the bridge API's own server)."""
    bridge_url = bridge_url or base_url
    return "\n".join(
        [
            f"Sandbox running at {base_url}",
            f"  health:        {base_url}/health",
            f"  owner logins:  {JANE[0]} / {JANE[1]}   {JOHN[0]} / {JOHN[1]}",
            f"  OAuth client:  {SEAM_CLIENT[0]} / {SEAM_CLIENT[1]}   scopes locks.read locks.write",
            f"  authorize:     {base_url}/oauth/authorize   (also {base_url}/authorize)",
            f"  token:         {base_url}/oauth/token   metadata: {base_url}/.well-known/oauth-authorization-server",
            f"  redirect URIs: {'  '.join(SEAM_REDIRECT_URIS)}",
            *describe_virtual_locks(),
            f"  bridge API:    {bridge_url}/bridge/v1   (a new bridge: provider bridges create --owner EMAIL)",
            "Press Ctrl-C to stop (web, dispatcher, bridge API and bridge agent stop together).",
        ]
    )


# --------------------------------------------------------------------------- bridges
#: Seeded sandbox bridges carry this name; `provider sandbox` runs one virtual-lock agent for each.
SANDBOX_BRIDGE_NAME = "Sandbox bridge"


def sandbox_bridge_token(secret_key: str, bridge_id: str) -> str:
    """The sandbox bridge's token, derived from SECRET_KEY: never stored, only its hash is."""
    from provider.services.bridges import TOKEN_PREFIX

    digest = hmac.new(secret_key.encode(), f"sandbox bridge {bridge_id}".encode(), hashlib.sha256)
    return TOKEN_PREFIX + digest.hexdigest()


def sandbox_bridge_tokens(secret_key: str) -> list[tuple[str, str]]:
    """Re-keys every seeded sandbox bridge to its derived token; returns [(bridge_id, token)]."""
    from provider.models import Bridge
    from provider.services.bridges import hash_token

    tokens = []
    bridges = db.session.scalars(
        select(Bridge).where(Bridge.name == SANDBOX_BRIDGE_NAME).order_by(Bridge.created_at, Bridge.id)
    ).all()
    for bridge in bridges:
        token = sandbox_bridge_token(secret_key, bridge.id)
        if bridge.token_hash != hash_token(token):
            bridge.token_hash = hash_token(token)
        tokens.append((bridge.id, token))
    db.session.commit()
    return tokens


def describe_virtual_locks() -> list[str]:
    """How to use the keypads of the sandbox's virtual locks."""
    from provider.models import Account, Bridge, Lock

    rows = db.session.execute(
        select(Account.email, Lock.name, Lock.id).join(Bridge, Lock.bridge_id == Bridge.id)
        .join(Account, Lock.owner_id == Account.id)
        .where(Bridge.name == SANDBOX_BRIDGE_NAME).order_by(Account.email, Lock.created_at, Lock.name)
    ).all()
    if not rows:
        return []
    names = [name for _, name, _ in rows]
    by_owner: dict[str, list[str]] = {}
    for email, name, _ in rows:
        by_owner.setdefault(email, []).append(name)
    # The example must name one lock only (a lock id always does).
    example = next((name for name in names if names.count(name) == 1), rows[0][2])
    lines = ["  virtual locks: served by the sandbox's bridge agent over a virtual BLE link"]
    lines += [f"                 {email}: {', '.join(owned)}" for email, owned in by_owner.items()]
    return [
        *lines,
        f"  type a PIN:    .venv/bin/firmware-bridge keypad --lock '{example}' 482913   (program it first)",
        f"  faults:        .venv/bin/firmware-bridge fault --lock '{example}' jam   (battery 10, unreachable 30, ...)",
        "  list them:     .venv/bin/firmware-bridge sandbox-locks",
    ]
