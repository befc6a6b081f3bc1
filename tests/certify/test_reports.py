"""JSON and JUnit reports, the summary table, redaction, and the CLI's exit status."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from certify.cli import main
from certify.http import redact_json, redact_text, redact_url
from certify.registry import CheckResult, Outcome
from certify.report import junit_xml, summary
from certify.runner import Report, select_checks
from tests.certify.fake_provider import CLIENT_SECRET, PASSWORD, USERNAME


def _report() -> Report:
    results = [
        CheckResult("health.ok", "health", True, Outcome.PASS, "", 0.01),
        CheckResult("oauth.state_echoed", "oauth", True, Outcome.FAIL, "state dropped", 0.2,
                    evidence=[{"response": {"status": 302}}]),
        CheckResult("oauth.code_reuse_revokes_tokens", "oauth", False, Outcome.WARN, "still works", 0.1),
        CheckResult("webhooks.retry", "webhooks", True, Outcome.SKIP, "no listener", 0.0),
    ]
    return Report("http://x", "all", "2026-01-01T00:00:00Z", 1.5, results, ["webhook w: deleted"])


def test_junit_has_a_case_per_check_with_failures_and_skips():
    root = ET.fromstring(junit_xml(_report()))

    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {"health.ok", "oauth.state_echoed", "oauth.code_reuse_revokes_tokens", "webhooks.retry"}
    assert cases["oauth.state_echoed"].find("failure").get("message") == "state dropped"
    assert cases["webhooks.retry"].find("skipped") is not None
    assert cases["oauth.code_reuse_revokes_tokens"].find("failure") is None
    assert root.get("failures") == "1"


def test_summary_names_the_verdict_and_the_cleanup():
    text = summary(_report())

    assert "FAILED (1 required check(s) failed)" in text
    assert "webhook w: deleted" in text
    assert "(warning-level)" in text


def test_redaction_masks_secrets_in_bodies_and_urls():
    body = redact_json({"access_token": "abc", "user_id": "u1", "nested": [{"code": "123456"}]})

    assert body == {"access_token": "***(len=3)", "user_id": "u1", "nested": [{"code": "***(len=6)"}]}
    assert "sekrit" not in redact_url("https://x/cb?code=sekrit&state=s1")
    assert "state=s1" in redact_url("https://x/cb?code=sekrit&state=s1")
    assert "sekrit" not in redact_text("<p>Go to <a href='https://x/cb?code=sekrit'>x</a></p>", "text/html")


def _cli(base_url: str, tmp_path, *extra: str):
    return CliRunner().invoke(main, [
        "--base-url", base_url, "--client-secret", CLIENT_SECRET, "--username", USERNAME,
        "--password", PASSWORD, "--action-timeout", "1", "--json", str(tmp_path / "r.json"),
        "--junit", str(tmp_path / "r.xml"), *extra,
    ])


def test_cli_exit_status_follows_the_required_checks(serve_fake, tmp_path):
    with serve_fake() as fake:
        good = _cli(fake.base_url, tmp_path)
    assert good.exit_code == 0, good.output
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is True
    ET.parse(tmp_path / "r.xml")

    with serve_fake({"pin_conflict_unchecked"}) as fake:
        bad = _cli(fake.base_url, tmp_path, "--select", "oauth.state_echoed", "--select", "oauth.token_response",
                   "--select", "locks", "--select", "access_codes")
    assert bad.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert [c["name"] for c in report["checks"] if c["result"] == "fail"] == ["access_codes.rule_pin_conflict"]
    assert "actions.legacy_unlock" not in {c["name"] for c in report["checks"]}


def test_cli_lists_checks_without_a_provider():
    result = CliRunner().invoke(main, ["--list"])

    assert result.exit_code == 0
    assert "oauth.concurrent_refresh" in result.output and "[warning-level]" in result.output


def test_progress_prints_one_line_per_check_when_not_a_terminal():
    import io

    from certify.report import LineProgress

    stream = io.StringIO()
    progress = LineProgress(stream)
    for index, result in enumerate(_report().results, 1):
        progress.finish(index, 4, result)

    lines = stream.getvalue().splitlines()
    assert lines[1] == "[ 2/4] oauth.state_echoed: FAIL (0.20 s)"
    assert len(lines) == 4


def test_cli_says_so_when_the_provider_cannot_be_reached(tmp_path):
    from tests.live import free_port

    result = CliRunner().invoke(main, ["--base-url", f"http://127.0.0.1:{free_port()}/x", "--http-timeout", "2"])

    assert result.exit_code == 2
    assert "cannot reach" in result.output


def test_a_selection_runs_the_sign_in_token_and_lock_checks_first():
    names = [c.name for c in select_checks(("actions.*",))]
    prerequisites = ["oauth.state_echoed", "oauth.token_response", "locks.list"]
    assert [name for name in names if not name.startswith("actions.")] == prerequisites
    assert max(names.index(name) for name in prerequisites) < min(
        names.index(name) for name in names if name.startswith("actions."))


def test_a_health_only_selection_needs_no_sign_in():
    assert {c.area for c in select_checks(("health.*",))} == {"health"}


def test_html_page_is_self_contained_with_failures_first_and_masked_evidence():
    from certify.report import html_page

    report = _report()
    report.results[1].evidence = [{"request": {"body": {"code": "482913", "name": "Guest"}},
                                   "response": {"status": 302, "location": "https://x/cb?code=sekrit&state=s1"}}]
    report.results[1].reason = "state dropped (client secret hunter2 was sent)"
    page = html_page(report, secrets=("hunter2",))

    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    for external in ("<link", "<script", "src=", "@import", "url("):
        assert external not in page
    # Failures first, then warnings, skips, passes, in the table and in the details.
    order = [page.index(f'href="#check-{name}"') for name in
             ("oauth.state_echoed", "oauth.code_reuse_revokes_tokens", "webhooks.retry", "health.ok")]
    assert order == sorted(order)
    assert '<details id="check-oauth.state_echoed" class="fail" open>' in page
    for secret in ("482913", "sekrit", "hunter2"):
        assert secret not in page
    assert "state=s1" in page and "FAILED" in page and "0.20 s" in page


def test_cli_writes_the_html_report_without_a_secret_in_it(serve_fake, tmp_path):
    with serve_fake() as fake:
        result = _cli(fake.base_url, tmp_path, "--html", str(tmp_path / "r.html"), "--unmanaged-pin", "97531")
        issued = list(fake.issued)
        pins = [c["code"] for c in fake.access_codes.values()]
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "PASSED" in page and "access_codes.extend_started" in page and "access_codes.unmanaged_survive" in page
    for secret in [*issued, CLIENT_SECRET, *pins]:
        assert secret not in page


def test_delivery_evidence_masks_the_pins_events_carry():
    from certify.listener import Delivery

    payload = {"event_type": "access_code.created", "code": "4829", "data": {"code": "4829"},
               "access_code": {"code": "4829"}}
    described = Delivery(0.0, "/hook", {}, json.dumps(payload).encode(), 200, payload).describe()
    assert "4829" not in json.dumps(described)
    raw = Delivery(0.0, "/hook", {}, b"pin=9090&x=1", 200).describe()
    assert "9090" not in json.dumps(raw)
