"""Live processes for end-to-end tests: `LiveSandbox` runs `provider sandbox` for real.

    with LiveSandbox(tmp_path) as sandbox:
        requests.get(sandbox.base_url + "/health")

It starts `provider sandbox --port <free port>` (web, dispatcher, bridge agent: whatever
the sandbox runs at the time) with its own PROVIDER_VAR_DIR (and DATABASE_URL when
given), waits for /health, and stops it with SIGTERM, then SIGKILL of its process
group if it does not exit in time. The output goes to <var_dir>/sandbox.log; failures
quote its tail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def provider_command() -> list[str]:
    """The virtualenv's `provider` script when it is there, else the module."""
    script = Path(sys.executable).parent / "provider"
    return [str(script)] if script.exists() else [sys.executable, "-m", "provider.cli"]


class SandboxError(RuntimeError):
    """The sandbox did not come up (the message carries the tail of its log)."""


class LiveSandbox:
    def __init__(
        self,
        var_dir: Path,
        *,
        database_url: str | None = None,
        base_path: str = "",
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.var_dir = Path(var_dir)
        self.database_url = database_url
        self.base_path = base_path.rstrip("/")
        self.extra_env = dict(env or {})
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.var_dir / "sandbox.log"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}{self.base_path}"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "PROVIDER_BASE_PATH")}
        env.update(
            PROVIDER_VAR_DIR=str(self.var_dir),
            PORT=str(self.port),
            PROVIDER_ENV="sandbox",
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.base_path:
            env["PROVIDER_BASE_PATH"] = self.base_path
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120.0) -> LiveSandbox:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*provider_command(), "sandbox", "--port", str(self.port)],
            env=self.environment(),
            cwd=self.var_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: a SIGKILL of last resort reaches the children too.
            start_new_session=True,
        )
        log.close()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SandboxError(f"provider sandbox exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.base_url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise SandboxError(f"provider sandbox not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def child_commands(self) -> list[str]:
        """Command lines of the sandbox's child processes (Linux /proc), e.g. to see whether
        it runs a dispatcher or a bridge agent yet."""
        if self.process is None:
            return []
        commands = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid:
                    commands.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, IndexError, ValueError):
                continue
        return commands

    def runs(self, fragment: str) -> bool:
        return any(fragment in command for command in self.child_commands())

    def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> LiveSandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
