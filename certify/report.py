"""Reporters: the live progress line, the summary table, JSON, JUnit XML and HTML files."""

from __future__ import annotations

import html
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from certify.http import redact_json, redact_params_in_text
from certify.registry import Check, CheckResult, Outcome
from certify.runner import Progress, Report

MARKS = {Outcome.PASS: "pass", Outcome.FAIL: "FAIL", Outcome.WARN: "warn", Outcome.SKIP: "skip"}


class LineProgress(Progress):
    """One line rewritten in place on a terminal; one line per finished check otherwise."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def start(self, index: int, total: int, check: Check) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K[{index:>2}/{total}] {check.name} ...")
            self.stream.flush()

    def finish(self, index: int, total: int, result: CheckResult) -> None:
        line = f"[{index:>2}/{total}] {result.name}: {MARKS[result.outcome]} ({result.seconds:.2f} s)"
        if self.tty:
            if result.outcome is Outcome.FAIL:
                self.stream.write(f"\r\033[K{line}\n")
            else:
                self.stream.write(f"\r\033[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def summary(report: Report, *, verbose_evidence: bool = True) -> str:
    width = max([len(r.name) for r in report.results] + [5])
    lines = [f"{'CHECK':<{width}}  RESULT  {'TIME':>7}  NOTE", "-" * (width + 40)]
    for r in report.results:
        required = "" if r.required else " (warning-level)"
        lines.append(f"{r.name:<{width}}  {MARKS[r.outcome]:<6}  {r.seconds:>6.2f}s  {r.reason}{required}")
    problems = [r for r in report.results if r.outcome in (Outcome.FAIL, Outcome.WARN)]
    for r in problems:
        lines += ["", f"{MARKS[r.outcome]} {r.name}: {r.description}", f"  reason: {r.reason}"]
        if verbose_evidence:
            for item in r.evidence:
                text = json.dumps(item, indent=2, ensure_ascii=False)
                lines += ["  " + line for line in text.splitlines()]
    if report.cleanup:
        lines += ["", "Cleanup (the kit undoes what it did) and notes:"] + [f"  - {note}" for note in report.cleanup]
    counts = report.counts
    tally = ", ".join(f"{counts[o.value]} {o.value}" for o in Outcome)
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.failed_required)} required check(s) failed)"
    lines += ["", f"{verdict}: {tally} in {report.seconds:.1f} s against {report.base_url}"]
    return "\n".join(lines)


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def junit_xml(report: Report) -> str:
    suites = ET.Element("testsuites", name="provider-certify", tests=str(len(report.results)),
                        failures=str(len(report.failed_required)), time=f"{report.seconds:.3f}")
    by_area: dict[str, list[CheckResult]] = {}
    for r in report.results:
        by_area.setdefault(r.area, []).append(r)
    for area, results in by_area.items():
        suite = ET.SubElement(
            suites, "testsuite", name=area, tests=str(len(results)),
            failures=str(sum(r.outcome is Outcome.FAIL for r in results)),
            skipped=str(sum(r.outcome is Outcome.SKIP for r in results)),
            time=f"{sum(r.seconds for r in results):.3f}",
        )
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"certify.{area}", name=r.name, time=f"{r.seconds:.3f}")
            if r.outcome is Outcome.FAIL:
                failure = ET.SubElement(case, "failure", message=r.reason)
                failure.text = json.dumps(r.evidence, indent=2, ensure_ascii=False)
            elif r.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=r.reason)
            elif r.outcome is Outcome.WARN:
                out = ET.SubElement(case, "system-out")
                out.text = f"WARNING: {r.reason}\n" + json.dumps(r.evidence, indent=2, ensure_ascii=False)
    return ET.tostring(suites, encoding="unicode")


def write_junit(report: Report, path: Path) -> None:
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + junit_xml(report) + "\n")


# ---------------------------------------------------------------------------------------------
# HTML: one self-contained page a vendor attaches to its certification request.
# ---------------------------------------------------------------------------------------------
#: Failures first, then what needs a look, then what was not tested, then what passed.
HTML_ORDER = {Outcome.FAIL: 0, Outcome.WARN: 1, Outcome.SKIP: 2, Outcome.PASS: 3}
_HTML_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
.verdict{display:inline-block;font-weight:700;padding:.3rem .8rem;border-radius:.3rem;color:#fff}
.verdict.passed{background:#1a7f37}.verdict.failed{background:#cf222e}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}dl.meta dt{color:#59636e}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d1d9e0;
vertical-align:top}th{background:#f6f8fa}td.time{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.badge{display:inline-block;min-width:3.2rem;text-align:center;font-weight:600;border-radius:.25rem;padding:0 .3rem}
.fail .badge{background:#ffebe9;color:#a40e26}.warn .badge{background:#fff8c5;color:#7d4e00}
.skip .badge{background:#eaeef2;color:#59636e}.pass .badge{background:#dafbe1;color:#116329}
details{border:1px solid #d1d9e0;border-radius:.3rem;margin:.5rem 0;padding:.4rem .7rem}
details.fail{border-color:#ff8182}details.warn{border-color:#d4a72c}summary{cursor:pointer}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:13px;white-space:pre-wrap;word-break:break-all}
.muted{color:#59636e}code{font-size:.9em}
"""


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Secret parameters masked, and any secret the caller names, wherever it appears."""
    text = redact_params_in_text(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, f"***(len={len(secret)})")
    return text


def _html_evidence(evidence: list[dict[str, Any]], secrets: Iterable[str]) -> str:
    if not evidence:
        return '<p class="muted">No evidence recorded.</p>'
    text = json.dumps(redact_json(evidence), indent=2, ensure_ascii=False)
    return f"<pre>{html.escape(_scrub(text, secrets))}</pre>"


def html_page(report: Report, secrets: Iterable[str] = ()) -> str:
    """The report as one HTML page: inline CSS, no script, no external asset; secrets masked."""
    secrets = list(secrets)

    def e(text: Any) -> str:
        return html.escape(_scrub(str(text), secrets))

    ordered = sorted(report.results, key=lambda r: (HTML_ORDER[r.outcome], not r.required))
    counts = report.counts
    verdict = "passed" if report.passed else "failed"
    rows = "".join(
        f'<tr class="{r.outcome.value}"><td><span class="badge">{MARKS[r.outcome]}</span></td>'
        f'<td><a href="#check-{e(r.name)}"><code>{e(r.name)}</code></a>'
        f'{"" if r.required else " <span class=muted>(warning-level)</span>"}</td>'
        f'<td class="time">{r.seconds:.2f} s</td><td>{e(r.reason)}</td></tr>'
        for r in ordered
    )
    details = "".join(
        f'<details id="check-{e(r.name)}" class="{r.outcome.value}"'
        f'{" open" if r.outcome in (Outcome.FAIL, Outcome.WARN) else ""}>'
        f'<summary><span class="badge">{MARKS[r.outcome]}</span> <code>{e(r.name)}</code> '
        f'<span class="muted">{r.seconds:.2f} s</span></summary>'
        f"<p>{e(r.description)}</p>"
        f'<p><strong>Result:</strong> {e(r.outcome.value)}{"" if r.required else " (warning-level)"}'
        f"{' &mdash; ' + e(r.reason) if r.reason else ''}</p>"
        f"{_html_evidence(r.evidence, secrets)}</details>"
        for r in ordered
    )
    cleanup = "".join(f"<li>{e(note)}</li>" for note in report.cleanup) or '<li class="muted">nothing to undo</li>'
    tally = ", ".join(f"{counts[o.value]} {o.value}" for o in Outcome)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>provider-certify: {e(report.base_url)} {verdict}</title><style>{_HTML_STYLE}</style></head><body>"
        "<h1>Seam provider certification report</h1>"
        f'<p><span class="verdict {verdict}">{verdict.upper()}</span> '
        f'{len(report.failed_required)} required check(s) failed; {e(tally)}</p>'
        '<dl class="meta">'
        f"<dt>Provider</dt><dd><code>{e(report.base_url)}</code></dd>"
        f"<dt>Profile</dt><dd>{e(report.profile)}</dd>"
        f"<dt>Started</dt><dd>{e(report.started_at)}</dd>"
        f"<dt>Duration</dt><dd>{report.seconds:.1f} s</dd>"
        "<dt>Evidence</dt><dd>Requests and responses as the kit saw them; passwords, tokens, secrets "
        "and PINs are masked.</dd></dl>"
        f"<h2>Checks</h2><table><thead><tr><th>Result</th><th>Check</th><th>Time</th><th>Note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<h2>Details and evidence</h2>{details}"
        f"<h2>Cleanup</h2><ul>{cleanup}</ul>"
        "</body></html>\n"
    )


def write_html(report: Report, path: Path, secrets: Iterable[str] = ()) -> None:
    path.write_text(html_page(report, secrets), encoding="utf-8")
