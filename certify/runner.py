"""Runs the checks in order, times them, collects evidence, and always cleans up."""

from __future__ import annotations

import fnmatch
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from certify.context import Context, Settings
from certify.http import describe_exchange
from certify.listener import Listener
from certify.registry import (
    Check,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    CheckWarning,
    Outcome,
    all_checks,
)

EVIDENCE_EXCHANGES = 4


@dataclass
class Report:
    base_url: str
    profile: str
    started_at: str
    seconds: float
    results: list[CheckResult]
    cleanup: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {outcome.value: 0 for outcome in Outcome}
        for result in self.results:
            counts[result.outcome.value] += 1
        return counts

    @property
    def failed_required(self) -> list[CheckResult]:
        return [r for r in self.results if r.required and r.outcome is Outcome.FAIL]

    @property
    def passed(self) -> bool:
        return not self.failed_required

    def result(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "profile": self.profile,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "passed": self.passed,
            "counts": self.counts,
            "checks": [r.to_dict() for r in self.results],
            "cleanup": self.cleanup,
        }


class Progress:
    """Receives each check as it starts and ends (the CLI prints a live line)."""

    def start(self, index: int, total: int, check: Check) -> None:
        pass

    def finish(self, index: int, total: int, result: CheckResult) -> None:
        pass


#: What every check past the health check stands on: a sign-in, its token and a lock to test.
#: A selection (`--select 'actions.*'`) runs them first, unless they are excluded by name.
PREREQUISITES = ("oauth.state_echoed", "oauth.token_response", "locks.list")


def _matches(check: Check, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(check.name, p) or check.area == p for p in patterns)


def select_checks(patterns: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> list[Check]:
    checks = all_checks()
    if patterns:
        chosen = {c.name for c in checks if _matches(c, patterns)}
        if any(c.area != "health" for c in checks if c.name in chosen):
            chosen.update(PREREQUISITES)
        checks = [c for c in checks if c.name in chosen]
    return [c for c in checks if not _matches(c, exclude)]


def _not_applicable(ctx: Context, check: Check) -> str | None:
    if not check.profiles & ctx.settings.profiles():
        return f"not in profile {ctx.settings.profile!r} (checks the {'/'.join(sorted(check.profiles))} guide)"
    if check.needs_listener and ctx.listener is None:
        return "webhook checks need --webhook-listen HOST:PORT"
    return None


def run_check(ctx: Context, check: Check) -> CheckResult:
    started = time.monotonic()
    ctx.http.take_exchanges()
    evidence: list[dict[str, Any]] | None = None
    skip = _not_applicable(ctx, check)
    if skip:
        outcome, reason = Outcome.SKIP, skip
    else:
        try:
            reason = check.func(ctx) or ""
            outcome = Outcome.PASS
        except CheckSkipped as err:
            outcome, reason = Outcome.SKIP, err.reason
        except (CheckFailed, CheckWarning) as err:
            hard = isinstance(err, CheckFailed) and check.required
            outcome, reason, evidence = (Outcome.FAIL if hard else Outcome.WARN), err.reason, err.evidence
        except requests.RequestException as err:
            outcome, reason = Outcome.FAIL, f"HTTP request failed: {type(err).__name__}: {err}"
        except Exception as err:  # a crash in one check must not stop the others
            outcome = Outcome.FAIL
            reason = f"the check crashed ({type(err).__name__}: {err}); this may be a bug in the kit"
            evidence = [{"traceback": traceback.format_exc(limit=4)}]
    exchanges = ctx.http.take_exchanges()
    if outcome in (Outcome.FAIL, Outcome.WARN) and evidence is None:
        evidence = [describe_exchange(r) for r in exchanges[-EVIDENCE_EXCHANGES:]]
    if outcome is Outcome.FAIL:
        ctx.failed.add(check.name)
    return CheckResult(
        name=check.name,
        area=check.area,
        required=check.required,
        outcome=outcome,
        reason=reason,
        seconds=time.monotonic() - started,
        description=check.description,
        evidence=evidence or [],
    )


def run(
    settings: Settings,
    *,
    checks: list[Check] | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    checks = select_checks() if checks is None else checks
    progress = progress or Progress()
    ctx = Context(settings, sleep=sleep)
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    if settings.webhook_listen:
        ctx.listener = Listener(*settings.webhook_listen)
        ctx.listener.start()
    results: list[CheckResult] = []
    try:
        for index, check in enumerate(checks, 1):
            progress.start(index, len(checks), check)
            result = run_check(ctx, check)
            results.append(result)
            progress.finish(index, len(checks), result)
    finally:
        ctx.run_cleanups()
        if ctx.listener is not None:
            ctx.listener.stop()
    if ctx.http.rate_limited:
        ctx.cleanup_notes.append(f"note: {ctx.http.rate_limited} answer(s) were HTTP 429; the kit waited "
                                 "Retry-After and tried again, as Seam does")
    return Report(settings.base_url, settings.profile, started_at, time.monotonic() - started, results,
                  ctx.cleanup_notes)
