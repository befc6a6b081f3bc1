"""Long libFuzzer run of the C firmware core (firmware/fuzz), with ASan and UBSan.

Harnesses: the frame decoder (random bytes in random chunk sizes), the record
layer (forged records refused without moving the replay window; seal/open
round trip), every request decoder (decoded requests obey the field rules),
the PROVISION decoder (section 16's field rules), the TZ rule parser and offline PIN parser, and the whole lock (a script
of raw writes, plaintext frames, requests sealed in a valid session, keypad,
door, timers, the reset button, motor faults, link drops and power cycles,
in factory mode or provisioned).

    python -m bench.firmware_fuzz [--quick]
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from bench.common import ROOT, main_for, row

NAME = "fuzz (C firmware core)"
HARNESSES = ("frame", "record", "request", "provision", "schedule", "lock")


def run(quick: bool = False) -> list[dict]:
    seconds = int(os.environ.get("FUZZ_SECONDS") or (10 if quick else 300))
    start = time.monotonic()
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "firmware"), "fuzz", f"FUZZ_SECONDS={seconds}"],
                          capture_output=True, text=True, timeout=len(HARNESSES) * seconds + 600, check=False)
    elapsed = time.monotonic() - start
    rows = []
    for harness in HARNESSES:
        execs = re.search(rf"^{harness}: stat::number_of_executed_units:\s+(\d+)", proc.stdout, re.M)
        units = re.search(rf"^{harness}: stat::new_units_added:\s+(\d+)", proc.stdout, re.M)
        rows.append(row(NAME, f"{harness}: executions", int(execs.group(1)) if execs else None, "inputs",
                        note=f"{seconds} s, ASan + UBSan" if execs else "did not complete"))
        rows.append(row(NAME, f"{harness}: corpus units added", int(units.group(1)) if units else None, ""))
    crashed = proc.returncode != 0
    rows.append(row(NAME, "crashes, sanitizer reports, invariant aborts", 1 if crashed else 0, "", "== 0",
                    detail=(proc.stdout[-1500:] + proc.stderr[-1500:]) if crashed else None,
                    note=f"{elapsed:.0f} s in all"))
    return rows


if __name__ == "__main__":
    main_for(run)
