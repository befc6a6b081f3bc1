"""Private MQTT brokers for tests and the fleet bench: Mosquitto with dynamic security, NATS with MQTT.

    with Mosquitto(tmp_path) as broker:
        broker.admin_url, broker.gateway_url, broker.port

Each instance listens on a free loopback port with its own configuration and
files under the given directory, and can be killed (-9) and restarted on the
same port. Without the binary the tests skip with the reason, or fail where
REQUIRE_MQTT=1 (.ci/run) makes them mandatory.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REQUIRE_MQTT = os.environ.get("REQUIRE_MQTT") == "1"
DYNSEC_PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
ADMIN = ("provisioner", "provisioner-secret-for-tests")
GATEWAY = ("gateway", "gateway-secret-for-tests")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (path for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(path)), None)


def dynsec_plugin() -> str | None:
    return next((path for path in DYNSEC_PLUGIN_PATHS if os.path.exists(path)), None)


def missing_mosquitto() -> str | None:
    """Why Mosquitto tests cannot run here, or None."""
    if mosquitto_binary() is None:
        return "no mosquitto binary (Debian: apt-get install mosquitto; make test installs it)"
    if dynsec_plugin() is None:
        return "mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so) is not installed"
    return None


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port} within {timeout} s: {log.read_text()[-2000:]}")


class Broker:
    """A broker process on a fixed free port; `kill()` is SIGKILL, `start()` brings it back on that port."""

    name = "broker"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.directory / f"{self.name}.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Broker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        _wait_port(self.port, self.process, self.log)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Mosquitto(Broker):
    """Mosquitto with the dynamic-security plugin: an admin (the $CONTROL API) and a gateway account."""

    name = "mosquitto"

    def __init__(self, directory: Path, port: int | None = None, *, prefix: str = "bridges",
                 max_connections: int = -1) -> None:
        super().__init__(directory, port)
        from provider.services.broker_accounts import dynsec_config

        self.dynsec = self.directory / "dynamic-security.json"
        if not self.dynsec.exists():
            self.dynsec.write_text(json.dumps(dynsec_config(ADMIN, GATEWAY, prefix)))
            self.dynsec.chmod(0o600)
        self.config = self.directory / "mosquitto.conf"
        self.config.write_text("\n".join([
            f"listener {self.port} {HOST}",
            # Started as root, mosquitto would drop to user "mosquitto", who cannot read our 0600 files.
            f"user {getpass.getuser()}",
            "allow_anonymous false",
            f"plugin {dynsec_plugin()}",
            f"plugin_opt_config_file {self.dynsec}",
            "persistence false",
            f"max_connections {max_connections}",
            "max_queued_messages 10000",
            "log_type error",
            "log_type warning",
            "log_dest stdout",
            "",
        ]))

    def argv(self) -> list[str]:
        binary = mosquitto_binary()
        assert binary is not None
        return [binary, "-c", str(self.config)]

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"mqtt://{ADMIN[0]}:{ADMIN[1]}@{HOST}:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"mqtt://{GATEWAY[0]}:{GATEWAY[1]}@{HOST}:{self.port}"


def nats_binary() -> str | None:
    return shutil.which("nats-server") or next(
        (path for path in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.path.exists(path)), None)


class NatsMqtt(Broker):
    """nats-server with JetStream and its mqtt {} block (MQTT 3.1.1, no auth): `port` is the MQTT port."""

    name = "nats"

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(directory, port)
        self.client_port = free_port()
        self.config = self.directory / "nats.conf"
        lines = [
            f'server_name: "nats-{self.port}"',
            f"listen: {HOST}:{self.client_port}",
            f'jetstream {{ store_dir: "{self.directory / "jetstream"}" }}',
            f"mqtt {{ listen: {HOST}:{self.port} }}",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def argv(self) -> list[str]:
        binary = nats_binary()
        assert binary is not None
        return [binary, "-c", str(self.config)]

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    gateway_url = url

