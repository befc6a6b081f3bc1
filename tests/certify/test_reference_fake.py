"""The unbroken reference fake passes every check, and the kit leaves nothing behind."""

from __future__ import annotations

import json

from certify.registry import Outcome
from certify.runner import run
from tests.certify.conftest import settings_for
from tests.certify.fake_provider import UNMANAGED_PIN


def test_reference_fake_passes_every_check(certify_against):
    fake, report = certify_against()

    not_passed = {r.name: (r.outcome.value, r.reason) for r in report.results if r.outcome is not Outcome.PASS}
    assert not_passed == {}
    assert report.passed


def test_the_kit_cleans_up_after_itself(certify_against):
    fake, report = certify_against()

    # Only the code set at the lock's keypad is left: the kit never touches what it did not create.
    assert [(c["code"], c["is_managed"]) for c in fake.access_codes.values()] == [(UNMANAGED_PIN, False)]
    assert fake.webhooks == {}
    assert fake.locks[fake.lock_id]["lock_state"] == "locked"
    assert any("webhook" in note and "deleted" in note for note in report.cleanup)
    assert any("left locked" in note or "restored to locked" in note for note in report.cleanup)


def test_only_the_given_lock_is_touched(serve_fake):
    with serve_fake() as fake:
        other = fake.lock_id
        fake.locks["second-lock"] = {"lock_state": "unlocked"}
        report = run(settings_for(fake.base_url, listen=False, lock_id="second-lock"))
        touched = {a["lock_id"] for a in fake.actions.values()}

    assert report.passed
    assert touched == {"second-lock"}
    assert fake.locks[other]["lock_state"] == "locked"
    assert fake.locks["second-lock"]["lock_state"] == "unlocked"


def test_unknown_lock_id_fails_the_list_check_and_skips_what_needs_it(serve_fake):
    with serve_fake() as fake:
        report = run(settings_for(fake.base_url, listen=False, lock_id="not-mine"))

    assert report.result("locks.list").outcome is Outcome.FAIL
    assert report.result("actions.pending_then_final").outcome is Outcome.SKIP
    assert "no lock to test" in report.result("access_codes.create").reason
    assert not fake.actions and all(not c["is_managed"] for c in fake.access_codes.values())


def test_profiles_select_the_guide(serve_fake):
    with serve_fake() as fake:
        legacy = run(settings_for(fake.base_url, listen=False, profile="legacy"))
        current = run(settings_for(fake.base_url, listen=False, profile="current"))

    assert legacy.passed and current.passed
    assert legacy.result("actions.legacy_unlock").outcome is Outcome.PASS
    assert legacy.result("actions.pending_then_final").outcome is Outcome.SKIP
    assert current.result("actions.legacy_unlock").outcome is Outcome.SKIP
    assert current.result("locks.device_fields").outcome is Outcome.PASS
    assert legacy.result("locks.device_fields").outcome is Outcome.SKIP


def test_webhook_checks_are_skipped_without_a_listener(certify_against):
    _, report = certify_against(listen=False)

    webhook_results = [r for r in report.results if r.area == "webhooks"]
    assert webhook_results and all(r.outcome is Outcome.SKIP for r in webhook_results)
    assert "--webhook-listen" in webhook_results[0].reason


def test_reports_never_contain_secrets(certify_against):
    fake, report = certify_against({"refresh_revokes_old_tokens", "bearer_not_required", "webhook_unsigned",
                                    "redirect_uri_prefix_matched", "pin_length_unchecked"})

    dumped = json.dumps(report.to_dict())
    # There is evidence to look at: token calls, a redirect page quoting a code, PIN bodies.
    for name in ("oauth.refresh_keeps_old_tokens", "oauth.redirect_uri_near_miss", "access_codes.rule_short_pin"):
        assert report.result(name).evidence, name
    for secret in [*fake.issued, "seamsecret"]:
        assert secret not in dumped
    assert '"password": "1234"' not in dumped


def test_lock_state_restored_through_the_legacy_endpoint(serve_fake):
    with serve_fake(legacy_only=True) as fake:
        report = run(settings_for(fake.base_url, listen=False, profile="legacy"))

    assert report.passed
    assert fake.locks[fake.lock_id]["lock_state"] == "locked"
    assert any("restored to locked (POST /locks/<id>/lock)" in note for note in report.cleanup), report.cleanup


def test_action_followed_through_its_webhook_when_the_provider_has_no_action_get(serve_fake):
    with serve_fake(action_get=False) as fake:
        listening = run(settings_for(fake.base_url))
        deaf = run(settings_for(fake.base_url, listen=False))

    assert listening.result("actions.pending_then_final").outcome is Outcome.PASS
    assert listening.passed
    assert deaf.result("actions.pending_then_final").outcome is Outcome.SKIP
    assert "--webhook-listen" in deaf.result("actions.pending_then_final").reason


def test_a_rate_limited_call_is_retried_after_retry_after(serve_fake):
    with serve_fake(rate_limit_next_create=True) as fake:
        report = run(settings_for(fake.base_url, listen=False))

    assert not fake.rate_limit_next_create  # the 429 was answered
    assert report.passed
    assert any("429" in note for note in report.cleanup)
