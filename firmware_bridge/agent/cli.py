"""`firmware-bridge agent`, `firmware-bridge keypad` and `firmware-bridge fault`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from firmware_bridge.agent.config import ConfigError, load_config

DEFAULT_STATE_DIR = "var/bridge"


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (also $FIRMWARE_BRIDGE_CONFIG).")
@click.option("--provider-url", default=None, help="Provider base URL ($FIRMWARE_BRIDGE_PROVIDER_URL).")
@click.option("--token", "bridge_token", default=None,
              help="Bridge token from `provider bridges create` (prefer $FIRMWARE_BRIDGE_TOKEN: "
                   "command lines are visible to other users).")
@click.option("--backend", type=click.Choice(["bleak", "virtual"]), default=None,
              help="bleak: real locks over this machine's Bluetooth (default); "
                   "virtual: the bridge's locks as virtual locks in this process.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help=f"Journal and virtual-lock state ($FIRMWARE_BRIDGE_STATE_DIR, default {DEFAULT_STATE_DIR}).")
@click.option("--idle-disconnect", type=float, default=None, help="Seconds before an idle lock is disconnected.")
@click.option("--heartbeat-interval", type=float, default=None, help="Seconds between heartbeats.")
@click.option("--poll-interval", type=float, default=None, help="Seconds between visits to an idle lock.")
@click.option("--transport", type=click.Choice(["http", "mqtt"]), default=None,
              help="Commands and reports over HTTP long-poll (default) or an MQTT broker ($FIRMWARE_BRIDGE_TRANSPORT).")
@click.option("--mqtt-url", default=None, help="transport mqtt: mqtt://host:1883 ($FIRMWARE_BRIDGE_MQTT_URL).")
@click.option("--engine", type=click.Choice(["python", "c"]), default=None,
              help="With --backend virtual: the locks' firmware, the Python state machine or the C core "
                   "($FIRMWARE_BRIDGE_LOCK_ENGINE, default python).")
def agent(config_file: str | None, engine: str | None, **flags: Any) -> None:
    """Run the bridge agent: serve this gateway's locks for the provider. SIGTERM stops it cleanly."""
    try:
        config = load_config(flags, config_file=config_file)
    except ConfigError as err:
        raise click.UsageError(str(err)) from err
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    logging.getLogger("bumble").setLevel(max(logging.WARNING, root.level))

    from firmware_bridge.agent.agent import run_agent

    if config.backend == "virtual":
        from firmware_bridge.agent.virtual_backend import VirtualBackend

        backend: Any = VirtualBackend(config.state_dir, config.control, config.control_port, engine=engine)
    else:
        from firmware_bridge.agent.links import LockClientConnector

        backend = _BleakBackend(LockClientConnector())
    asyncio.run(run_agent(config, backend))


class _BleakBackend:
    """Real locks: bleak's own backend (BlueZ, CoreBluetooth, WinRT); nothing to host."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector

    async def start(self, locks: Any, poke: Any) -> Any:
        return self.connector

    async def locks_changed(self, locks: Any) -> None:
        pass

    async def close(self) -> None:
        pass


def _state_dirs(state_dir: str | None) -> list[Path]:
    if state_dir:
        return [Path(state_dir)]
    env = os.environ.get("FIRMWARE_BRIDGE_STATE_DIR")
    if env:
        return [Path(env)]
    var = Path(os.environ.get("PROVIDER_VAR_DIR", "var"))
    return [var / "bridge"]


def _control(state_dir: str | None, request: dict[str, Any]) -> dict[str, Any]:
    from firmware_bridge.agent.virtual_backend import control_request, find_control

    endpoints = find_control(_state_dirs(state_dir))
    if not endpoints:
        raise click.ClickException(
            f"no running virtual-mode bridge agent under {', '.join(map(str, _state_dirs(state_dir)))} "
            "(start the sandbox with `make run`, or pass --state-dir)")
    answer = asyncio.run(control_request(endpoints, request))
    if not answer.get("ok"):
        raise click.ClickException(str(answer.get("error", "refused")))
    return answer


_state_dir_option = click.option("--state-dir", type=click.Path(file_okay=False), default=None,
                                 help="The agent's state dir (default: $FIRMWARE_BRIDGE_STATE_DIR, "
                                      "else $PROVIDER_VAR_DIR/bridge and its sub-directories).")
_lock_option = click.option("--lock", "lock_ref", required=True, help="Lock id, name or BLE address.")


@click.command()
@_lock_option
@click.argument("pin")
@_state_dir_option
def keypad(lock_ref: str, pin: str, state_dir: str | None) -> None:
    """Type PIN on a virtual lock's keypad (sandbox / virtual backend).

    Exits 0 when the lock unlocked, 1 when it refused the PIN or could not move the bolt."""
    answer = _control(state_dir, {"op": "enter_pin", "lock": lock_ref, "pin": pin})
    event = answer.get("event")
    bolt = str(answer.get("bolt", "?")).lower()
    if event == "UnlockedEvent":
        click.echo(f"{answer['name']}: unlocked")
        return
    why = KEYPAD_REFUSALS.get(str(event), "the lock did not unlock")
    raise click.ClickException(f"{answer['name']}: {why}; the bolt is {bolt}")


@click.command(name="keypad-program")
@_lock_option
@click.option("--master", required=True, envvar="FIRMWARE_BRIDGE_MASTER_PIN",
              help="The lock's master code (a virtual lock's is 24681357 unless its state says otherwise).")
@click.argument("pin")
@_state_dir_option
def keypad_program(lock_ref: str, master: str, pin: str, state_dir: str | None) -> None:
    """Program PIN at a virtual lock's keypad in the owner's master mode (no app, no cloud).

    The cloud lists it as an unmanaged code once the bridge has read the lock's table."""
    answer = _control(state_dir, {"op": "program_code", "lock": lock_ref, "master": master, "pin": pin})
    click.echo(f"{answer['name']}: code programmed in slot {answer['slot']}")


#: What a keypad entry that did not unlock means, by the event the lock logged.
KEYPAD_REFUSALS = {
    "IncorrectPinEvent": "wrong PIN (no code on this lock matches it now)",
    "BoltFaultEvent": "the PIN was right but the bolt jammed",
    "None": "the PIN was right but the battery is too low to move the bolt",
}


@click.command()
@_lock_option
@click.argument("name", metavar="FAULT")
@click.argument("value", required=False)
@_state_dir_option
def fault(lock_ref: str, name: str, value: str | None, state_dir: str | None) -> None:
    """Inject FAULT into a virtual lock: jam, obstruct, busy, battery PERCENT, disconnect,
    unreachable SECONDS, slow SECONDS, door open|closed|ajar, manual-turn, tamper, clock-skew SECONDS,
    storage-full [off], drop-notifications N, disconnect-mid-command, disconnect-mid-response."""
    from firmware_bridge.agent.virtual_backend import FAULTS

    if name not in FAULTS:
        raise click.BadParameter(f"one of {', '.join(sorted(FAULTS))}", param_hint="FAULT")
    answer = _control(state_dir, {**FAULTS[name](value), "lock": lock_ref})
    click.echo(f"{answer['name']}: {name} {value or ''}".rstrip())


@click.command(name="sandbox-locks")
@_state_dir_option
def virtual_locks(state_dir: str | None) -> None:
    """List the virtual locks of running virtual-mode agents (JSON)."""
    answer = _control(state_dir, {"op": "locks"})
    json.dump(answer["locks"], sys.stdout, indent=2)
    click.echo()


COMMANDS = [agent, keypad, keypad_program, fault, virtual_locks]
