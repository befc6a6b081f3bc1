"""Check results and the registry of named checks."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certify.context import Context


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


LEGACY = "legacy"
CURRENT = "current"
PROFILES = (LEGACY, CURRENT)


class CheckFailed(Exception):
    """Raised by a check: the provider broke the rule this check is about."""

    def __init__(self, reason: str, evidence: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


class CheckSkipped(Exception):
    """Raised by a check that cannot run here (a prerequisite failed, nothing to test)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CheckWarning(Exception):
    """Raised by a check whose rule holds but with something the vendor should look at."""

    def __init__(self, reason: str, evidence: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


@dataclass(frozen=True)
class Check:
    name: str
    area: str
    description: str
    func: Callable[[Context], str | None]
    # A check that is not required turns its failures into warnings.
    required: bool = True
    profiles: frozenset[str] = frozenset(PROFILES)
    # Only meaningful when the kit receives webhooks (--webhook-listen).
    needs_listener: bool = False


@dataclass
class CheckResult:
    name: str
    area: str
    required: bool
    outcome: Outcome
    reason: str
    seconds: float
    description: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "area": self.area,
            "description": self.description,
            "required": self.required,
            "result": self.outcome.value,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "evidence": self.evidence,
        }


REGISTRY: list[Check] = []


def check(
    name: str,
    *,
    required: bool = True,
    profiles: tuple[str, ...] = PROFILES,
    needs_listener: bool = False,
) -> Callable[[Callable[[Context], str | None]], Callable[[Context], str | None]]:
    """Registers a check; registration order is execution order. The docstring's first
    line is the check's description; the function returns a pass note (or None) or raises."""

    def decorate(func: Callable[[Context], str | None]) -> Callable[[Context], str | None]:
        if any(existing.name == name for existing in REGISTRY):
            raise ValueError(f"duplicate check name {name!r}")
        REGISTRY.append(
            Check(
                name=name,
                area=name.split(".", 1)[0],
                description=(func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
                func=func,
                required=required,
                profiles=frozenset(profiles),
                needs_listener=needs_listener,
            )
        )
        return func

    return decorate


def all_checks() -> list[Check]:
    from certify.checks import load

    load()
    return list(REGISTRY)
