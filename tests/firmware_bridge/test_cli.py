"""``firmware-bridge``: the bench commands against in-process virtual locks, and the
``virtual-lock`` command on a real HCI transport (H4 over TCP to software controllers)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket
from click.testing import CliRunner

from firmware_bridge.benchmark import STEPS, percentile, run_virtual_bench
from firmware_bridge.bumble_backend import BumbleAdapter, VirtualController, VirtualLink
from firmware_bridge.cli import load_keys_file, main
from firmware_bridge.lock_client import BleBackend, LockClient, Timeouts
from firmware_bridge.protocol import const
from tests.firmware.engine import require_c_engine

KEY = "00112233445566778899aabbccddeeff"
ADDRESS = "D0:4C:4B:00:00:07"


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


ENGINES = pytest.mark.parametrize("engine", ["python", "c"])


@pytest.fixture
def engine_flags(engine: str) -> list[str]:
    if engine == "c":
        require_c_engine()
    return ["--engine", engine]


@ENGINES
def test_lock_commands_on_a_virtual_lock_keep_state(tmp_path: Path, engine_flags: list[str]) -> None:
    state = tmp_path / "lock.json"
    common = ["--virtual", "--state-file", str(state), "--key", KEY, *engine_flags]
    assert "LOCKED" in invoke("status", *common)
    assert invoke("unlock", *common).strip() == "UNLOCKED"
    assert "stored in slot 5" in invoke(
        "codes", "put", "--slot", "5", "--pin", "482913", "--name", "Alice", *common
    )
    listed = invoke("codes", "list", *common)
    assert "Alice" in listed and "482913" not in listed  # PINs hidden unless asked
    codes = json.loads(invoke("codes", "list", "--json", "--show-pins", *common))
    assert codes == [
        {"slot": 5, "name": "Alice", "pin": "482913", "starts_at": None, "ends_at": None}
    ]
    invoke("set-time", "--time", "2026-03-01T10:00:00Z", "--timezone", "Europe/Paris", *common)
    status = json.loads(invoke("status", "--json", *common))
    assert status["bolt"] == "UNLOCKED" and status["timezone"] == "Europe/Paris"
    assert status["code_count"] == 1
    events = json.loads(invoke("events", "--json", *common))
    assert [e["type"] for e in events["events"]] == ["UnlockedEvent"]
    assert events["events"][0]["source"] == "BLE"
    assert "UnlockedEvent" in invoke("events", "--since", "0", *common)
    assert "slot 5 is empty" in invoke("codes", "delete", "--slot", "5", *common)
    assert invoke("lock", *common).strip() == "LOCKED"
    assert oct(state.stat().st_mode & 0o777) == "0o600"  # it holds PINs


@ENGINES
def test_bench_virtual_json_reports_every_step(engine_flags: list[str]) -> None:
    result = CliRunner().invoke(
        main, ["bench", "--virtual", "--iterations", "3", "--json", *engine_flags], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == list(STEPS)  # keypad_event included: a virtual keypad
    for step in steps.values():
        assert step["ok"] == 3 and step["failures"] == 0, step
        assert 0 < step["p50_ms"] <= step["p95_ms"] <= step["max_ms"]
    assert report["iterations"] == 3 and report["mtu"] == 247
    assert "iteration 3/3" in result.stderr


def test_bench_table_at_the_smallest_mtu() -> None:
    output = invoke("bench", "--virtual", "-n", "2", "--mtu", "23")
    assert "MTU 23" in output
    assert "p50 ms" in output and "keypad_event" in output and "errors:" not in output


def test_scan_finds_virtual_locks() -> None:
    lines = invoke("scan", "--virtual", "2", "--timeout", "0.3").splitlines()
    assert [line.split()[0] for line in lines] == ["D0:4C:4B:00:00:01", "D0:4C:4B:00:00:02"]
    assert lines[0].endswith("VL-0001")


def test_usage_errors() -> None:
    runner = CliRunner()
    no_target = runner.invoke(main, ["status"])
    assert no_target.exit_code == 2 and "--address" in no_target.output
    no_key = runner.invoke(main, ["status", "--address", ADDRESS])
    assert no_key.exit_code == 2 and "--key" in no_key.output
    both = runner.invoke(main, ["status", "--virtual", "--transport", "usb:0"])
    assert both.exit_code == 2


def test_keys_file_formats(tmp_path: Path) -> None:
    as_json = tmp_path / "keys.json"
    as_json.write_text(json.dumps({ADDRESS.lower(): KEY}))
    as_lines = tmp_path / "keys.txt"
    as_lines.write_text(f"# bench locks\n{ADDRESS} {KEY}\n\n")
    assert load_keys_file(as_json) == {ADDRESS: KEY} == load_keys_file(as_lines)
    output = invoke("status", "--virtual", "--address", ADDRESS, "--keys-file", str(as_lines))
    assert "LOCKED" in output


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.mark.timeout(60)
@ENGINES
def test_virtual_lock_command_on_an_hci_transport(tmp_path: Path, engine_flags: list[str]) -> None:
    """`firmware-bridge virtual-lock` in its own process, on a controller reached over TCP (H4)."""
    state = tmp_path / "state.json"

    async def scenario() -> None:
        link = VirtualLink()
        transports = []
        ports = []
        for name in ("lock", "bridge"):
            sock = _listening_socket()
            transport = await open_tcp_server_transport_with_socket(sock)
            VirtualController(
                name, host_source=transport.source, host_sink=transport.sink, link=link
            )
            transports.append(transport)
            ports.append(sock.getsockname()[1])
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "firmware_bridge.cli",
            "virtual-lock",
            "--transport",
            f"tcp-client:127.0.0.1:{ports[0]}",
            "--key",
            KEY,
            "--address",
            ADDRESS,
            "--state-file",
            str(state),
            *engine_flags,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        tasks: list[asyncio.Future[bytes]] = []
        try:
            assert process.stderr is not None
            async with asyncio.timeout(20):  # log lines may come first
                while b"advertising as " + ADDRESS.encode() not in (
                    line := await process.stderr.readline()
                ):
                    assert line, "virtual-lock exited before advertising"
            drain = asyncio.ensure_future(process.stderr.read())  # never let its stderr pipe fill
            tasks.append(drain)
            adapter = await BumbleAdapter.open(f"tcp-client:127.0.0.1:{ports[1]}")
            timeouts = Timeouts(connect=3.0, connect_attempts=1, read=3.0, bolt=3.0, code_write=3.0)
            async with LockClient(
                ADDRESS, KEY, backend=BleBackend.bumble(adapter), timeouts=timeouts
            ) as client:
                assert await client.unlock() is const.BoltState.UNLOCKED
                assert await client.put_code(9, "246810", "Tcp") == 9
            await adapter.close()
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 10)
            await asyncio.gather(*tasks)
            for transport in transports:
                await transport.close()
        assert process.returncode == 0

    asyncio.run(asyncio.wait_for(scenario(), 50))
    saved = json.loads(state.read_text())
    if engine_flags[-1] == "c":  # the C core's flash: its code slot records
        assert saved["engine"] == "c" and str(0x4000 + 9) in saved["nvs"]
    else:
        assert saved["bolt"] == "UNLOCKED"
        assert saved["codes"][0]["slot"] == 9


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.2)) == (
        3.0,
        5.0,
        1.0,
    )
    assert percentile([7.0], 0.95) == 7.0


def test_run_virtual_bench_for_bench_modules() -> None:
    result = asyncio.run(asyncio.wait_for(run_virtual_bench(2, mtu=23), 30))
    rows = {row["step"]: row for row in result.as_dict()["steps"]}
    assert result.mtu == 23
    assert rows["keypad_event"]["ok"] == 2 and all(row["failures"] == 0 for row in rows.values())
