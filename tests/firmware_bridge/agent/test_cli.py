"""The agent as a process: configuration errors, SIGTERM, the keypad without an agent."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from firmware_bridge.cli import main

TOKEN = "brg_not-a-real-token-but-secret"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_the_agent_cleanly_and_the_token_never_shows(tmp_path):
    env = {"FIRMWARE_BRIDGE_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.agent", "--provider-url", f"http://127.0.0.1:{_closed_port()}",
         "--backend", "virtual", "--state-dir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        lines = []
        while time.monotonic() < deadline:  # the provider is down: it keeps retrying
            line = process.stdout.readline()
            lines.append(line)
            if "provider not reachable" in line:
                break
        assert any("provider not reachable" in line for line in lines), lines
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert TOKEN not in "".join(lines) + output


def test_missing_token_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FIRMWARE_BRIDGE_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["agent", "--provider-url", "http://p", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "bridge token is required" in result.output


def test_keypad_without_a_running_agent(tmp_path):
    result = CliRunner().invoke(main, ["keypad", "--lock", "Front Door", "482913", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no running virtual-mode bridge agent" in result.output


def test_unknown_fault_refused(tmp_path):
    result = CliRunner().invoke(main, ["fault", "--lock", "x", "melt", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "jam" in result.output


@pytest.mark.parametrize(("event", "exit_code", "says"), [
    ("UnlockedEvent", 0, "Front Door: unlocked"),
    ("IncorrectPinEvent", 1, "wrong PIN"),
    ("BoltFaultEvent", 1, "bolt jammed"),
    (None, 1, "battery is too low"),
])
def test_keypad_says_what_happened_and_fails_unless_it_unlocked(monkeypatch, event, exit_code, says):
    from firmware_bridge.agent import cli as agent_cli

    answer = {"ok": True, "name": "Front Door", "event": event,
              "bolt": "UNLOCKED" if event == "UnlockedEvent" else "LOCKED"}
    monkeypatch.setattr(agent_cli, "_control", lambda state_dir, request: answer)
    result = CliRunner().invoke(main, ["keypad", "--lock", "Front Door", "0000"])
    assert result.exit_code == exit_code
    assert says in result.output


def test_keypad_program_sends_the_master_mode_request(monkeypatch):
    from firmware_bridge.agent import cli as agent_cli

    sent = []
    monkeypatch.setattr(agent_cli, "_control", lambda state_dir, request: sent.append(request) or
                        {"ok": True, "name": "Front Door", "slot": 250})
    result = CliRunner().invoke(main, ["keypad-program", "--lock", "Front Door", "--master", "24681357", "8642"])
    assert result.exit_code == 0 and "slot 250" in result.output
    assert sent == [{"op": "program_code", "lock": "Front Door", "master": "24681357", "pin": "8642"}]
