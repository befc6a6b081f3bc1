"""`provider serve` (gunicorn) and `provider sandbox` (migrate, seed, run everything)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

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


#: A sandbox process other than the web server (the dispatcher, a bridge agent) that dies is
#: restarted after this delay, as a service manager would: the dispatcher's leases and the
#: agent's journal make a restart lose and repeat nothing. The web server's death stops the
#: sandbox (nothing works without it). One that keeps dying young (a configuration error)
#: waits twice as long each time, up to a minute.
RESTART_DELAY = 1.0
RESTART_MAX = 60.0
HEALTHY_AFTER = 30.0  # seconds of running that reset the delay
#: The dispatcher and the agents start once the web server answers, so that no agent logs
#: "provider not reachable yet"; a server that takes longer is waited for by them instead.
READY_TIMEOUT = 60.0


def _start(spec: Process) -> subprocess.Popen[bytes]:
    # Each child in its own process group: a Ctrl-C in the terminal reaches the supervisor
    # alone, which stops the children in order (SIGTERM to each) instead of all at once.
    return subprocess.Popen(
        spec[1], env={**os.environ, **spec[2]} if len(spec) > 2 else None, process_group=0
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


class _Supervisor:
    def __init__(self, processes: list[Process]) -> None:
        self.processes = processes
        self.children: list[subprocess.Popen[bytes] | None] = [None] * len(processes)
        self.started_at = [0.0] * len(processes)
        self.delays = [RESTART_DELAY] * len(processes)
        self.restart_at: dict[int, float] = {}
        self.stopping = False
        self.exit_code = 0

    def start(self, index: int) -> None:
        self.children[index] = _start(self.processes[index])
        self.started_at[index] = time.monotonic()

    def watch(self) -> None:
        """One look at every child: restart the dead ones that may be restarted."""
        for index, child in enumerate(self.children):
            if child is None or self.stopping:
                continue
            code = child.poll()
            name = self.processes[index][0]
            if code is None:
                continue
            if index == 0:
                click.echo(f"{name} exited with {code}; stopping the sandbox", err=True)
                self.exit_code = code or 1
                self.stopping = True
            elif index not in self.restart_at:
                if time.monotonic() - self.started_at[index] >= HEALTHY_AFTER:
                    self.delays[index] = RESTART_DELAY
                click.echo(f"{name} exited with {code}; restarting it in {self.delays[index]:g} s", err=True)
                self.restart_at[index] = time.monotonic() + self.delays[index]
                self.delays[index] = min(RESTART_MAX, self.delays[index] * 2)
            elif time.monotonic() >= self.restart_at[index]:
                del self.restart_at[index]
                self.start(index)

    def stop_all(self) -> None:
        # Everything but the web server first (agents report what is under way), then the web.
        order = [child for child in (*self.children[1:], self.children[0]) if child is not None]
        for child in order[:-1]:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in order[:-1]:
            _wait(child, deadline)
        web = order[-1] if order else None
        if web is not None and web.poll() is None:
            web.terminate()
            _wait(web, time.monotonic() + 10)


def _wait(child: subprocess.Popen[bytes], deadline: float) -> None:
    try:
        child.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def supervise(
    processes: list[Process],
    *,
    ready_url: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    poll: float = 0.2,
) -> int:
    """Runs the processes (the first is the web server) until it exits, SIGTERM or Ctrl-C;
    then stops all of them cleanly. With `ready_url`, the others start once it answers."""
    supervisor = _Supervisor(processes)

    def _stop(*_: object) -> None:
        supervisor.stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        supervisor.start(0)
        deadline = time.monotonic() + READY_TIMEOUT
        while ready_url and not supervisor.stopping and time.monotonic() < deadline:
            if _answers(ready_url) or supervisor.children[0].poll() is not None:  # type: ignore[union-attr]
                break
            time.sleep(poll)
        for index in range(1, len(processes)):
            if not supervisor.stopping:
                supervisor.start(index)
        while not supervisor.stopping and not (should_stop and should_stop()):
            supervisor.watch()
            time.sleep(poll)
        supervisor.stop_all()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return supervisor.exit_code


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
    # Its `serve` and `dispatcher` children would otherwise default to production rules.
    os.environ["PROVIDER_ENV"] = current_app.config["PROVIDER_ENV"]
    mqtt = bool(current_app.config.get("MQTT_URL"))
    if mqtt:
        _provision_sandbox_bridges(bridges)
    processes = sandbox_processes(port, bridges, base_path, var_dir, wakeups_cross_processes=cross,
                                  bridge_port=bridge_port, mqtt=mqtt)
    code = supervise(processes, ready_url=f"http://{HOST}:{port}{base_path}/health")
    click.echo("Sandbox stopped.")
    sys.exit(code)


def _provision_sandbox_bridges(bridges: list[tuple[str, str]]) -> None:
    """The sandbox bridges' broker accounts (MQTT_PROVISIONING), remade at every start like their tokens."""
    from provider.services import broker_accounts

    provisioner = broker_accounts.from_config(current_app.config)
    for bridge_id, token in bridges if provisioner is not None else []:
        try:
            provisioner.provision(bridge_id, token)
        except broker_accounts.ProvisioningError as err:
            click.echo(f"bridge {bridge_id}: no MQTT broker account ({err})", err=True)
