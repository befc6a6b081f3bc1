"""The C core's own checks, run from the suite: its unit tests (also under
valgrind), both compilers' -Wall -Wextra -Werror -pedantic, and a bounded
libFuzzer run of every harness with ASan and UBSan (the long run is in
`make chaos`). Missing tools skip, except under REQUIRE_FIRMWARE=1 (CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
pytestmark = pytest.mark.timeout(600)


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("REQUIRE_FIRMWARE") == "1":
            pytest.fail(f"REQUIRE_FIRMWARE=1 but {tool} is not installed")
        pytest.skip(f"{tool} is not installed")


def _make(*targets: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs firmware/Makefile targets; they install their Debian tools when missing (as root)."""
    _need("make")
    _need("gcc")
    result = subprocess.run(["make", "-s", "-C", str(FIRMWARE), *targets], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=580, check=False)
    missing = [line for line in result.stdout.splitlines() if " needs " in line]
    if result.returncode != 0 and missing and os.environ.get("REQUIRE_FIRMWARE") != "1":
        pytest.skip(missing[0])
    return result


def test_unit_tests_pass():
    result = _make("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout


def test_the_core_defines_no_mutable_global():
    result = _make("globals")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no mutable globals in the core" in result.stdout


def test_unit_tests_are_valgrind_clean():
    result = _make("valgrind")
    assert result.returncode == 0, result.stdout + result.stderr


def test_gcc_and_clang_accept_the_core_with_every_warning_an_error():
    result = _make("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_bounded_fuzzing_finds_nothing():
    result = _make("fuzz", FUZZ_SECONDS=os.environ.get("FUZZ_SECONDS", "4"))
    assert result.returncode == 0, result.stdout + result.stderr
    for harness in ("frame", "record", "request", "provision", "schedule", "lock"):
        assert f"{harness}: stat::number_of_executed_units" in result.stdout


def test_unit_tests_pass_on_the_psa_crypto_backend():
    result = _make("psa")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout
