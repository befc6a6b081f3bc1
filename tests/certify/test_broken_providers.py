"""Each switch of the fake breaks one rule: the matching check fails, and no other does."""

from __future__ import annotations

import pytest

from certify.registry import Outcome
from tests.certify.fake_provider import BREAKS

# Switches whose broken rule the kit can only see by waiting its bound out.
SHORT_WAITS = {
    "action_never_completes": {"action_timeout": 1.0},
    "code_never_applied": {"action_timeout": 1.0},
    "webhook_no_retry": {"retry_timeout": 1.5},
}


@pytest.mark.parametrize("switch", sorted(name for name, checks in BREAKS.items() if checks))
def test_broken_rule_fails_its_check_and_only_it(certify_against, switch):
    _, report = certify_against({switch}, **SHORT_WAITS.get(switch, {}))

    failed = {r.name for r in report.results if r.outcome is Outcome.FAIL}
    assert failed == BREAKS[switch], {r.name: r.reason for r in report.results if r.outcome is Outcome.FAIL}
    assert not report.passed
    for name in failed:
        result = report.result(name)
        assert result.reason and result.evidence, name


def test_tokens_kept_after_code_replay_is_only_a_warning(certify_against):
    _, report = certify_against({"code_reuse_keeps_tokens"})

    result = report.result("oauth.code_reuse_revokes_tokens")
    assert result.outcome is Outcome.WARN
    assert "still works" in result.reason
    assert report.passed


def test_a_lock_without_seams_device_reference_is_only_a_warning(certify_against):
    _, report = certify_against({"device_reference_missing"})

    result = report.result("locks.seam_device_reference")
    assert result.outcome is Outcome.WARN
    assert "manufacturer" in result.reason and "supported_code_lengths" in result.reason
    assert report.passed
