"""``firmware-bridge``: bench tools for locks, and the virtual lock on a real controller.

Every lock command takes ``--address`` and ``--key`` (or ``--keys-file``) and
reaches the lock through:

* bleak's default backend (BlueZ on Linux) — real hardware, the default;
* ``--transport usb:0`` (any Bumble transport) — our Bumble backend on a
  dongle the OS does not own, as on a bench;
* ``--virtual`` — a virtual lock started in this process on Bumble's virtual
  link (``--state-file`` keeps its state between runs).

Commands live in small groups below; other packages add theirs with
``main.add_command(...)`` at the end of this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

import bridge_contract as contract
from bridge_contract import logs as contract_logs
from firmware_bridge.lock_client import BleBackend, LockClient, LockClientError, Timeouts
from firmware_bridge.protocol.const import SERVICE_UUID
from firmware_bridge.protocol.messages import LockEvent

_T = TypeVar("_T")
DEFAULT_VIRTUAL_ADDRESS = "D0:4C:4B:00:00:01"
# Key of the in-process virtual lock when none is given (bench use only).
DEFAULT_VIRTUAL_KEY = "000102030405060708090a0b0c0d0e0f"


@click.group()
@click.option("-v", "--verbose", count=True, help="-v: info, -vv: debug logging.")
def main(verbose: int) -> None:
    """Bench tools for the lock's BLE protocol, and the virtual lock."""
    level = logging.WARNING - 10 * min(verbose, 2)
    # LOG_FORMAT=json: the provider's JSON lines (the agent's carry each command's request_id).
    contract_logs.configure(level, os.environ.get("LOG_FORMAT"), "%(asctime)s %(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------------------
# Target selection: --address/--key/--keys-file, --virtual, --transport
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    address: str | None
    key: str | None
    keys_file: Path | None
    virtual: bool
    transport: str | None
    state_file: Path | None
    timeout: float
    mtu: int | None
    engine: str | None = None

    def resolve_key(self, address: str) -> str:
        if self.key:
            return self.key
        if self.keys_file is not None:
            keys = load_keys_file(self.keys_file)
            if address.upper() in keys:
                return keys[address.upper()]
            raise click.UsageError(f"{address} is not in {self.keys_file}")
        if self.virtual:
            return DEFAULT_VIRTUAL_KEY
        raise click.UsageError("give --key or --keys-file")


def load_keys_file(path: Path) -> dict[str, str]:
    """``{"AA:BB:...": "hex key"}`` (JSON) or lines of ``ADDRESS KEY`` (# comments)."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                address, key = line.split()[:2]
                data[address] = key
    if not isinstance(data, dict):
        raise click.UsageError(f"{path}: expected an object of address -> key")
    return {str(a).upper(): str(k) for a, k in data.items()}


ENGINE_OPTION = click.option(
    "--engine",
    type=click.Choice(["python", "c"]),
    default=None,
    help="Firmware of the virtual lock: the Python state machine (default) or the C core (firmware/).",
)


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--address", help="The lock's Bluetooth address."),
        click.option(
            "--key", envvar="FIRMWARE_BRIDGE_KEY", help="The lock's device key (32 hex digits)."
        ),
        click.option(
            "--keys-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="address -> key file (JSON or lines).",
        ),
        click.option("--virtual", is_flag=True, help="Use a virtual lock started in this process."),
        click.option(
            "--transport",
            help="Bumble transport for the bridge side (usb:0, tcp-client:host:port...).",
        ),
        click.option(
            "--state-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="With --virtual: load/save the lock's state here.",
        ),
        click.option(
            "--timeout", default=10.0, show_default=True, help="Connection timeout, seconds."
        ),
        click.option(
            "--mtu",
            type=click.IntRange(23, 517),
            help="ATT MTU to request (Bumble backends; BlueZ negotiates its own).",
        ),
        ENGINE_OPTION,
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(
        address: str | None,
        key: str | None,
        keys_file: Path | None,
        virtual: bool,
        transport: str | None,
        state_file: Path | None,
        timeout: float,
        mtu: int | None,
        engine: str | None,
        **kwargs: Any,
    ) -> Any:
        if engine and not virtual:
            raise click.UsageError("--engine goes with --virtual")
        if virtual and transport:
            raise click.UsageError("--virtual and --transport exclude each other")
        if state_file is not None and not virtual:
            raise click.UsageError("--state-file goes with --virtual")
        return func(
            Target(address, key, keys_file, virtual, transport, state_file, timeout, mtu, engine),
            **kwargs,
        )

    return wrapper


def run(coro: Awaitable[_T]) -> _T:
    """Run a command; package errors become a clean one-line failure."""
    from bleak.exc import BleakError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except LockClientError as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err
    except (BleakError, OSError) as err:  # scanning without a Bluetooth stack, a bad transport...
        raise click.ClickException(f"Bluetooth unavailable: {err!r}") from err


@contextlib.asynccontextmanager
async def open_client(
    target: Target, on_event: Callable[[LockEvent], None] | None = None
) -> AsyncIterator[tuple[LockClient, Any]]:
    """A connected-on-demand `LockClient` for the target, and the `VirtualWorld` if any."""
    timeouts = Timeouts(connect=target.timeout)
    if target.virtual:
        from firmware_bridge.bumble_backend.world import VirtualWorld

        async with VirtualWorld() as world:
            address = (target.address or DEFAULT_VIRTUAL_ADDRESS).upper()
            key = target.resolve_key(address)
            lock = load_state(target.state_file, key)
            peripheral = await world.add_lock(
                lock, device_key=key, address=address, engine=target.engine
            )
            client = world.client(
                peripheral.address,
                on_event=on_event,
                timeouts=timeouts,
                backend=_bumble_backend(world.adapter, target),
            )
            try:
                yield client, world
            finally:
                await client.disconnect()
                save_state(target.state_file, peripheral.lock)
        return
    if not target.address:
        raise click.UsageError("give --address (or --virtual)")
    key = target.resolve_key(target.address)
    if target.transport:
        from firmware_bridge.bumble_backend import BumbleAdapter

        adapter = await BumbleAdapter.open(target.transport)
        try:
            client = LockClient(
                target.address,
                key,
                backend=_bumble_backend(adapter, target),
                on_event=on_event,
                timeouts=timeouts,
            )
            try:
                yield client, None
            finally:
                await client.disconnect()
        finally:
            await adapter.close()
        return
    client = LockClient(target.address, key, on_event=on_event, timeouts=timeouts)
    try:
        yield client, None
    finally:
        await client.disconnect()


def _bumble_backend(adapter: Any, target: Target) -> BleBackend:
    return BleBackend.bumble(adapter, **({"mtu": target.mtu} if target.mtu else {}))


def load_state(path: Path | None, device_key: bytes | str) -> Any:
    from firmware_bridge.simulator.engines import lock_from_dict

    if path is None or not path.exists():
        return None
    return lock_from_dict(json.loads(path.read_text()), device_key=device_key)


def save_state(path: Path | None, lock: Any) -> None:
    """Write the lock's state atomically, readable by the owner only (it holds PINs)."""
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(lock.to_dict(), handle)
    os.replace(tmp, path)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _plain(value: Any) -> Any:
    """Enums by name (they are IntEnums, which JSON would print as numbers)."""
    return value.name if isinstance(value, enum.Enum) else value


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _event_dict(event: LockEvent) -> dict[str, Any]:
    data = {k: _plain(v) for k, v in vars(event).items()}
    if isinstance(data.get("payload"), bytes):
        data["payload"] = data["payload"].hex()
    return {"type": type(event).__name__, **data}


# ---------------------------------------------------------------------------
# Lock commands
# ---------------------------------------------------------------------------
@main.command()
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to scan.")
@click.option(
    "--virtual", type=int, default=0, help="Scan N virtual locks started in this process."
)
@click.option(
    "--transport", help="Bumble transport to scan with instead of bleak's default backend."
)
def scan(timeout: float, virtual: int, transport: str | None) -> None:
    """List the locks advertising the lock service."""

    async def go() -> list[tuple[str, str | None, int]]:
        from bleak import BleakScanner

        async with contextlib.AsyncExitStack() as stack:
            backend = BleBackend()
            if virtual:
                from firmware_bridge.bumble_backend.world import VirtualWorld

                world = await stack.enter_async_context(VirtualWorld())
                for _ in range(virtual):
                    await world.add_lock()
                backend = world.backend
            elif transport:
                from firmware_bridge.bumble_backend import BumbleAdapter

                adapter = await BumbleAdapter.open(transport)
                stack.push_async_callback(adapter.close)
                backend = BleBackend.bumble(adapter)
            found = await BleakScanner.discover(
                timeout, return_adv=True, service_uuids=[SERVICE_UUID], **backend.scanner_kwargs()
            )
            return sorted((d.address, a.local_name or d.name, a.rssi) for d, a in found.values())

    for address, name, rssi in run(go()):
        click.echo(f"{address}  {rssi:>4} dBm  {name or ''}")


def lock_command(func: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Wrap ``func(client, world)`` as a command on a target lock."""

    @functools.wraps(func)
    def command(target: Target, **kwargs: Any) -> None:
        async def go() -> None:
            async with open_client(target) as (client, world):
                await client.connect()
                await func(client, world, **kwargs)

        run(go())

    return command


@main.command()
@click.option("--json", "as_json", is_flag=True)
@target_options
@lock_command
async def status(client: LockClient, _world: Any, as_json: bool) -> None:
    """The lock's state: bolt, door, battery, clock, codes."""
    result = await client.status()
    data = {k: _plain(v) for k, v in vars(result).items() if k != "request_id"}
    data["device_time"] = datetime.fromtimestamp(result.device_time, UTC).isoformat()
    if as_json:
        echo_json(data)
    else:
        for name, value in data.items():
            click.echo(f"{name:<18} {value}")



@main.command()
@click.option("--serial", required=True, help="The serial number printed on the lock (<= 32 ASCII).")
@click.option("--device-key", "device_key", required=True, help="32 hex digits, as in the manifest.")
@click.option("--offline-secret", required=True, help="64 hex digits (32 bytes), as in the manifest.")
@target_options
def provision(target: Target, serial: str, device_key: str, offline_secret: str) -> None:
    """Factory line: write the device key, offline-code secret and serial into a lock in factory mode.

    Plaintext PROVISION (docs/ble-protocol.md, section 16): a lock accepts it only
    in factory mode and only once; it answers with a proof of the key, checked
    here. With --virtual, a lock that has no --state-file yet starts in factory
    mode and is saved there after.
    """
    try:
        secret = bytes.fromhex(offline_secret)
    except ValueError as err:
        raise click.UsageError("--offline-secret must be hex") from err

    async def go() -> None:
        placeholder = os.urandom(16)  # the lock has no key yet; none is needed to provision
        if target.virtual:
            from firmware_bridge.bumble_backend.world import VirtualWorld
            from firmware_bridge.simulator.engines import new_lock

            async with VirtualWorld() as world:
                lock = load_state(target.state_file, device_key) or new_lock(
                    target.engine, device_key=placeholder, factory_mode=True)
                address = (target.address or DEFAULT_VIRTUAL_ADDRESS).upper()
                peripheral = await world.add_lock(lock, device_key=placeholder, address=address)
                client = world.client(peripheral.address, placeholder, timeouts=Timeouts(connect=target.timeout),
                                      backend=_bumble_backend(world.adapter, target))
                try:
                    await client.provision(serial, device_key, secret)
                finally:
                    await client.disconnect()
                    save_state(target.state_file, peripheral.lock)
        else:
            if not target.address:
                raise click.UsageError("give --address (or --virtual)")
            client = LockClient(target.address, placeholder, timeouts=Timeouts(connect=target.timeout))
            try:
                await client.provision(serial, device_key, secret)
            finally:
                await client.disconnect()
        click.echo(f"provisioned: {serial} (the lock proved it holds the key; factory mode is over)")

    run(go())

@main.command(name="lock")
@target_options
@lock_command
async def lock_cmd(client: LockClient, _world: Any) -> None:
    """Throw the bolt."""
    click.echo((await client.lock()).name)


@main.command()
@target_options
@lock_command
async def unlock(client: LockClient, _world: Any) -> None:
    """Retract the bolt."""
    click.echo((await client.unlock()).name)


@main.command(name="set-time")
@click.option("--time", "when", help="ISO 8601 time (default: now).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone name.")
@target_options
@lock_command
async def set_time(client: LockClient, _world: Any, when: str | None, timezone: str) -> None:
    """Set the lock's clock and timezone."""
    moment = _parse_time(when) or datetime.now(UTC)
    await client.set_time(moment, timezone)
    click.echo(f"set to {moment.isoformat()} {timezone}")


@main.command()
@click.option("--since", default=0, show_default=True, help="Events after this sequence number.")
@click.option("--json", "as_json", is_flag=True)
@target_options
@lock_command
async def events(client: LockClient, _world: Any, since: int, as_json: bool) -> None:
    """The lock's event log."""
    log = await client.read_events(since)
    if as_json:
        echo_json(
            {
                "head_seq": log.head_seq,
                "oldest_seq": log.oldest_seq,
                "lost": log.lost,
                "events": [_event_dict(e) for e in log.events],
            }
        )
        return
    for event in log.events:
        when = datetime.fromtimestamp(event.timestamp, UTC).isoformat()
        details = ", ".join(
            f"{k}={getattr(v, 'name', v)}"
            for k, v in vars(event).items()
            if k not in ("seq", "timestamp")
        )
        click.echo(f"{event.seq:>6}  {when}  {type(event).__name__:<18} {details}")
    if log.lost:
        click.echo(f"({log.lost} older events were overwritten on the lock)")


@main.group()
def codes() -> None:
    """The lock's PIN code slots."""


@codes.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--show-pins", is_flag=True, help="Print the PINs (hidden by default).")
@target_options
@lock_command
async def codes_list(client: LockClient, _world: Any, as_json: bool, show_pins: bool) -> None:
    """List the codes on the lock."""
    entries = await client.list_codes()
    rows = [
        {
            "slot": c.slot,
            "name": c.name,
            "pin": c.pin if show_pins else "*" * len(c.pin),
            "starts_at": c.starts_at,
            "ends_at": c.ends_at,
        }
        for c in entries
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        window = ""
        if row["starts_at"] is not None:
            window = f"  {datetime.fromtimestamp(row['starts_at'], UTC).isoformat()} .. {datetime.fromtimestamp(row['ends_at'], UTC).isoformat()}"
        click.echo(f"{row['slot']:>4}  {row['pin']:<8}  {row['name']}{window}")


@codes.command(name="put")
@click.option("--slot", type=int, help="Slot number (default: the lowest free slot).")
@click.option("--pin", required=True, help=f"{contract.PIN_MIN_DIGITS}-{contract.PIN_MAX_DIGITS} digits.")
@click.option("--name", default="", help=f"Name shown on the lock (<= {contract.NAME_MAX_CHARS} characters).")
@click.option("--starts", help="Valid from (ISO 8601); needs --ends.")
@click.option("--ends", help="Valid until (ISO 8601); needs --starts.")
@click.option("--replace", is_flag=True, help="Overwrite an occupied slot.")
@target_options
@lock_command
async def codes_put(
    client: LockClient,
    _world: Any,
    slot: int | None,
    pin: str,
    name: str,
    starts: str | None,
    ends: str | None,
    replace: bool,
) -> None:
    """Store a PIN code on the lock."""
    stored = await client.put_code(
        slot, pin, name, _parse_time(starts), _parse_time(ends), replace=replace
    )
    click.echo(f"stored in slot {stored}")


@codes.command(name="delete")
@click.option("--slot", type=int, required=True)
@target_options
@lock_command
async def codes_delete(client: LockClient, _world: Any, slot: int) -> None:
    """Delete the code in a slot."""
    await client.delete_code(slot)
    click.echo(f"slot {slot} is empty")


# ---------------------------------------------------------------------------
# Bench
# ---------------------------------------------------------------------------
@main.command()
@click.option("--iterations", "-n", default=10, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable results on stdout.")
@click.option("--slot", default=200, show_default=True, help="Code slot the bench may use.")
@click.option(
    "--skip-keypad", is_flag=True, help="Real locks: skip the keypad step (it needs a person)."
)
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, writable=True),
              help="Also draw each step's durations to this file (.png, .svg or .pdf; needs matplotlib).")
@target_options
def bench(target: Target, iterations: int, as_json: bool, slot: int, skip_keypad: bool,
          plot_file: str | None) -> None:
    """Connect, handshake and run the full command sequence N times; report timings."""
    from firmware_bridge.benchmark import (
        KEYPAD_WAIT_HUMAN,
        KEYPAD_WAIT_VIRTUAL,
        EventWaiter,
        PlotUnavailable,
        StepStats,
        plot,
        run_bench,
    )

    if plot_file:
        try:
            import matplotlib  # noqa: F401  (checked before the run, not after it)
        except ImportError as err:
            raise click.ClickException(str(PlotUnavailable("--plot needs matplotlib: pip install matplotlib"))) from err

    def progress(done: int, total: int, steps: dict[str, StepStats]) -> None:
        failures = sum(s.failures for s in steps.values())
        click.echo(
            f"\riteration {done}/{total}, {failures} failed steps", nl=done == total, err=True
        )

    async def go() -> Any:
        waiter = EventWaiter()
        async with open_client(target, on_event=waiter) as (client, world):
            keypad: Callable[[str], Awaitable[None]] | None = None
            wait = KEYPAD_WAIT_VIRTUAL
            if world is not None:
                virtual_lock = world.lock(client.address)

                async def type_on_virtual_keypad(pin: str) -> None:
                    virtual_lock.enter_pin(pin)

                keypad = type_on_virtual_keypad
            elif not skip_keypad:
                wait = KEYPAD_WAIT_HUMAN

                async def ask_a_person(pin: str) -> None:
                    click.echo(f"\ntype {pin} on the lock's keypad...", err=True)

                keypad = ask_a_person
            return await run_bench(
                client,
                waiter,
                iterations=iterations,
                keypad=keypad,
                keypad_wait=wait,
                slot=slot,
                target="virtual lock (Bumble virtual link)"
                if world is not None
                else client.address,
                progress=progress,
            )

    result = run(go())
    if as_json:
        echo_json(result.as_dict())
    else:
        click.echo(result.table())
    if plot_file:
        plot(result, plot_file)
        click.echo(f"plot written to {plot_file}", err=True)


# ---------------------------------------------------------------------------
# The virtual lock on a real controller
# ---------------------------------------------------------------------------
@main.command(name="virtual-lock")
@click.option(
    "--transport",
    required=True,
    help="Bumble transport of the lock's controller (usb:0, tcp-client:...).",
)
@click.option(
    "--key", required=True, envvar="FIRMWARE_BRIDGE_KEY", help="Device key (32 hex digits)."
)
@click.option(
    "--address",
    default=DEFAULT_VIRTUAL_ADDRESS,
    show_default=True,
    help="Static random address to advertise.",
)
@click.option("--name", default=None, help="Advertised name (default: the lock's).")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Load/save the lock's state (codes, log, clock).",
)
@ENGINE_OPTION
def virtual_lock(
    transport: str,
    key: str,
    address: str,
    name: str | None,
    state_file: Path | None,
    engine: str | None,
) -> None:
    """Serve a virtual lock on a real BLE controller until interrupted."""
    from firmware_bridge.protocol.crypto import parse_device_key
    from firmware_bridge.simulator.engines import new_lock, peripheral_class

    try:
        parse_device_key(key)
    except Exception as err:
        raise click.BadParameter(str(err), param_hint="--key") from err

    async def serve() -> None:
        lock = load_state(state_file, key) or new_lock(engine, device_key=key, name=name or "VL-1")
        peripheral = await peripheral_class(lock).open(
            transport, lock, key, address, name=name or lock.name
        )
        lock.add_listener(lambda _event: save_state(state_file, lock))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await peripheral.start()
            click.echo(
                f"virtual lock {peripheral.name} advertising as {peripheral.address} on {transport}; Ctrl-C to stop",
                err=True,
            )
            await stop.wait()
        finally:
            await peripheral.stop()
            save_state(state_file, lock)

    run(serve())


# Other packages register their commands here, e.g.:
#     from firmware_bridge.agent.cli import agent
#     main.add_command(agent)
from firmware_bridge.agent.cli import COMMANDS as _AGENT_COMMANDS  # noqa: E402

for _command in _AGENT_COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
