"""Reporters: the live progress line, the summary table, JSON and JUnit XML files."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

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
