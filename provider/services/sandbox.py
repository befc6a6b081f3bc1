"""The sandbox's demo data, mirroring Seam's Kwikset sandbox. Idempotent.

Each domain adds its own seed step to SEED_STEPS.
"""

from __future__ import annotations

from collections.abc import Callable

from provider.extensions import db
from provider.services.accounts import ensure_account

JANE = ("jane@example.com", "1234")
JOHN = ("john@example.com", "5678")


def seed_accounts() -> None:
    ensure_account(*JANE)
    ensure_account(*JOHN)


SEED_STEPS: list[Callable[[], None]] = [seed_accounts]


def seed_sandbox() -> None:
    for step in SEED_STEPS:
        step()
        db.session.commit()


def describe_sandbox(base_url: str) -> str:
    """What a newcomer needs to start using the sandbox."""
    return "\n".join(
        [
            f"Sandbox running at {base_url}",
            f"  health:        {base_url}/health",
            f"  owner logins:  {JANE[0]} / {JANE[1]}   {JOHN[0]} / {JOHN[1]}",
            "Press Ctrl-C to stop.",
        ]
    )
