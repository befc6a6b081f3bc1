"""Runs provider-certify against the reference fake provider (tests/certify/fake_provider.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import pytest

from certify.context import Settings
from certify.runner import Report, run
from tests.certify.fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    UNMANAGED_PIN,
    USERNAME,
    FakeProvider,
)

FAST = {
    # The fake acts at once and retries after 0.2 s, so a passing run never waits these out;
    # they are generous for a loaded machine. Broken cases that wait shorten theirs (SHORT_WAITS).
    "action_timeout": 10.0,
    "webhook_timeout": 10.0,
    "retry_timeout": 10.0,
    "poll_interval": 0.02,
    "http_timeout": 10.0,
    "start_lead": 1.0,
}


def settings_for(base_url: str, *, listen: bool = True, **overrides: Any) -> Settings:
    return Settings(
        base_url=base_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri="http://localhost:3020/oauth/callback",
        username=USERNAME,
        password=PASSWORD,
        webhook_listen=("127.0.0.1", 0) if listen else None,
        **{**FAST, **overrides},
    )


@contextmanager
def _served(breaks: set[str] | frozenset[str] = frozenset(), **options: Any):
    fake = FakeProvider(breaks, **options)
    with fake.serve() as base_url:
        fake.base_url = base_url
        yield fake


@pytest.fixture
def serve_fake() -> Callable[..., Any]:
    """serve_fake(breaks) -> context manager yielding a running FakeProvider (fake.base_url)."""
    return _served


@pytest.fixture
def certify_against() -> Callable[..., tuple[FakeProvider, Report]]:
    """certify_against(breaks, **settings) -> (fake, report) after a whole run."""

    def go(breaks: set[str] | frozenset[str] = frozenset(), **overrides: Any) -> tuple[FakeProvider, Report]:
        # The fake lock holds a code set at its keypad, as a vendor programs one before a run.
        overrides.setdefault("unmanaged_pin", UNMANAGED_PIN)
        with _served(breaks) as fake:
            report = run(settings_for(fake.base_url, **overrides))
        return fake, report

    return go
