"""`provider serve` (gunicorn) and `provider sandbox` (migrate, seed, run everything)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from provider.web_server import HOST, default_port


def _port(port: int | None) -> int:
    return port or default_port()


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@click.command("bridge-api")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: $BRIDGE_PORT or 8081).")
@click.option("--threads", type=int, default=None,
              help="Threads that run requests (default: $BRIDGE_API_THREADS or 8); waiting polls hold none.")
def bridge_api(port: int | None, threads: int | None) -> None:
    """Serve the bridge API on an asyncio server: a long-polling bridge costs a socket, not a thread."""
    argv = [sys.executable, "-m", "provider.bridge_api.server"]
    if port is not None:
        argv += ["--port", str(port)]
    if threads:
        argv += ["--threads", str(threads)]
    # A fresh interpreter, as for `serve`: the server never loads the CLI's plugins.
    os.execv(sys.executable, argv)


@click.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: $PORT or 8080).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: $WEB_CONCURRENCY or 2).")
@click.option("--threads", type=int, default=None, help="Threads per worker (default: $WEB_THREADS or 16).")
def serve(port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the API under gunicorn (gthread workers)."""
    argv = [sys.executable, "-m", "provider.web_server", "--port", str(_port(port))]
    if workers:
        argv += ["--workers", str(workers)]
    if threads:
        argv += ["--threads", str(threads)]
    # A fresh interpreter: see provider/web_server.py for why the CLI does not host gunicorn.
    os.execv(sys.executable, argv)


@click.command("bridge-gateway", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bridge_gateway(args: tuple[str, ...]) -> None:
    """The MQTT bridge channel's cloud side (MQTT_URL): commands to the broker, reports into the services.

    Options: --mqtt-url, --group, --no-shared, --threads (see --help).
    """
    # A fresh interpreter, as for `serve`.
    os.execv(sys.executable, [sys.executable, "-m", "provider.bridge_gateway", *args])


Process = tuple[str, list[str]] | tuple[str, list[str], dict[str, str]]


def sandbox_processes(
    port: int,
    bridges: list[tuple[str, str]] | None = None,
    base_path: str = "",
    var_dir: str = "var",
    *,
    wakeups_cross_processes: bool = True,
    bridge_port: int | None = None,
    mqtt: bool = False,
) -> list[Process]:
    """The processes a sandbox runs, each as (name, argv) or (name, argv, extra environment).

    With `bridge_port` the bridge API runs on its own asyncio server there
    (`provider bridge-api`) and the agents poll it, so their long-polls never
    hold the web server's threads. With `mqtt` (MQTT_URL is set) a
    `provider bridge-gateway` runs too; agents take the MQTT transport when
    FIRMWARE_BRIDGE_TRANSPORT=mqtt and FIRMWARE_BRIDGE_MQTT_URL say so.

    Without a cross-process wake-up (SQLite and no REDIS_URL) a bridge's
    result would wake a legacy /unlock waiting in another worker only at the
    next 100 ms poll, so the web server then runs one worker (unless
    WEB_CONCURRENCY says otherwise): SQLite has one writer anyway.
    """
    provider = [sys.executable, "-m", "provider.cli"]
    web_env = {} if wakeups_cross_processes else {"WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "1")}
    processes: list[Process] = [
        ("web", [*provider, "serve", "--port", str(port)], web_env),
        ("dispatcher", [*provider, "dispatcher"]),
    ]
    bridge_url = f"http://{HOST}:{port}{base_path}"
    if bridge_port is not None:
        processes.append(("bridge-api", [*provider, "bridge-api", "--port", str(bridge_port)]))
        bridge_url = f"http://{HOST}:{bridge_port}{base_path}"
    if mqtt:
        processes.append(("gateway", [*provider, "bridge-gateway"]))
    for index, (bridge_id, token) in enumerate(bridges or []):
        # One agent per sandbox bridge, its locks virtual; the token travels in the
        # environment (never on a command line other users can read).
        argv = [sys.executable, "-m", "firmware_bridge.agent", "--backend", "virtual",
                "--provider-url", bridge_url,
                "--state-dir", os.path.join(var_dir, "bridge", bridge_id)]
        env = {"FIRMWARE_BRIDGE_TOKEN": token,
               # Idle virtual locks are visited often: cloud and lock agree within 30 s.
               "FIRMWARE_BRIDGE_POLL_INTERVAL": os.environ.get("FIRMWARE_BRIDGE_POLL_INTERVAL", "15")}
        processes.append((f"bridge{index + 1 if index else ''}", argv, env))
    return processes


#: A sandbox bridge agent that dies is restarted after this delay, as a gateway's service
#: manager would (its journal makes a restart lose and repeat nothing); others stop the sandbox.
#: One that keeps dying young (a configuration error) waits twice as long each time, up to a minute.
BRIDGE_RESTART_DELAY = 1.0
BRIDGE_RESTART_MAX = 60.0
BRIDGE_HEALTHY_AFTER = 30.0  # seconds of running that reset the delay


def _start(spec: Process) -> subprocess.Popen[bytes]:
    return subprocess.Popen(spec[1], env={**os.environ, **spec[2]} if len(spec) > 2 else None)


def supervise(processes: list[Process]) -> int:
    """Run the processes until one exits or Ctrl-C; then stop all of them cleanly."""
    children = [(spec[0], _start(spec)) for spec in processes]
    started_at = [time.monotonic() for _ in processes]
    delays = [BRIDGE_RESTART_DELAY for _ in processes]
    restart_at: dict[int, float] = {}
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    try:
        while not stopping:
            for index, (name, child) in enumerate(children):
                code = child.poll()
                if code is not None and name.startswith("bridge"):
                    if index not in restart_at:
                        if time.monotonic() - started_at[index] >= BRIDGE_HEALTHY_AFTER:
                            delays[index] = BRIDGE_RESTART_DELAY
                        click.echo(f"{name} exited with {code}; restarting it in {delays[index]:g} s", err=True)
                        restart_at[index] = time.monotonic() + delays[index]
                        delays[index] = min(BRIDGE_RESTART_MAX, delays[index] * 2)
                    elif time.monotonic() >= restart_at[index]:
                        del restart_at[index]
                        children[index] = (name, _start(processes[index]))
                        started_at[index] = time.monotonic()
                elif code is not None:
                    click.echo(f"{name} exited with {code}; stopping the sandbox", err=True)
                    exit_code = code or 1
                    stopping = True
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    for _, child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for _, child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


@click.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: $PORT or 8080).")
@click.option("--bridge-port", type=int, default=None,
              help="Port of the bridge API's own server (default: $BRIDGE_PORT, else a free port).")
@click.option("--engine", type=click.Choice(["python", "c"]), default=None,
              help="Firmware of the virtual locks: the Python state machine (default) or the C core.")
@with_appcontext
def sandbox(port: int | None, bridge_port: int | None, engine: str | None) -> None:
    """Migrate, seed the demo data and run the whole sandbox. Ctrl-C stops it."""
    if engine:
        # The bridge agents inherit the environment and read it (FIRMWARE_BRIDGE_LOCK_ENGINE).
        os.environ["FIRMWARE_BRIDGE_LOCK_ENGINE"] = engine
    from provider.services.sandbox import describe_sandbox, sandbox_bridge_tokens, seed_sandbox

    port = _port(port)
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)
    seed_sandbox()
    bridges = sandbox_bridge_tokens(current_app.config["SECRET_KEY"])
    base_path = current_app.config["PROVIDER_BASE_PATH"]
    if bridge_port is None:
        bridge_port = int(os.environ["BRIDGE_PORT"]) if os.environ.get("BRIDGE_PORT") else _free_port()
    click.echo(describe_sandbox(f"http://{HOST}:{port}{base_path}", f"http://{HOST}:{bridge_port}{base_path}"))
    var_dir = current_app.config["PROVIDER_VAR_DIR"]
    cross = not current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") or bool(
        current_app.config.get("REDIS_URL")
    )
    mqtt = bool(current_app.config.get("MQTT_URL"))
    if mqtt:
        _provision_sandbox_bridges(bridges)
    sys.exit(supervise(sandbox_processes(port, bridges, base_path, var_dir, wakeups_cross_processes=cross,
                                         bridge_port=bridge_port, mqtt=mqtt)))


def _provision_sandbox_bridges(bridges: list[tuple[str, str]]) -> None:
    """The sandbox bridges' broker accounts (MQTT_PROVISIONING), remade at every start like their tokens."""
    from provider.services import broker_accounts

    provisioner = broker_accounts.from_config(current_app.config)
    for bridge_id, token in bridges if provisioner is not None else []:
        try:
            provisioner.provision(bridge_id, token)
        except broker_accounts.ProvisioningError as err:
            click.echo(f"bridge {bridge_id}: no MQTT broker account ({err})", err=True)
