"""The production web server: the provider app under gunicorn (gthread workers).

Kept apart from the `provider` CLI on purpose: `provider serve` execs this
module in a fresh interpreter, so the gunicorn master, and every worker forked
from it, never imports the CLI's plugins (Flask-Migrate pulls in alembic, mako
and pygments: ~11 MB per worker that serves no request).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: str) -> None:
    """A fresh directory for per-process metric files (old files would add stale counts)."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def default_port() -> int:
    return int(os.environ.get("PORT", "8080"))


def gunicorn_options(port: int, workers: int | None = None, threads: int | None = None) -> dict[str, Any]:
    return {
        "bind": f"{HOST}:{port}",
        "worker_class": "gthread",
        "workers": workers or int(os.environ.get("WEB_CONCURRENCY", "2")),
        # Long-polling bridges and the legacy /unlock wait hold a thread each
        # for up to 25 s, so each worker keeps plenty of threads.
        "threads": threads or int(os.environ.get("WEB_THREADS", "16")),
        # Above the 25 s bridge long-poll, so gunicorn never kills a healthy wait.
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": os.environ.get("ACCESS_LOG") or None,
        "errorlog": "-",
        "loglevel": os.environ.get("LOG_LEVEL", "info").lower(),
        # No control socket in the home directory: nothing here uses it.
        "control_socket_disable": True,
        # /metrics: a dead worker's live gauges (long-polls in flight) stop counting.
        "child_exit": _child_exit,
    }


def _child_exit(server: Any, worker: Any) -> None:
    from provider.metrics import child_exit

    child_exit(server, worker)


def run_gunicorn(app_factory: Callable[[], Any], options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None and key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return app_factory()

    _Server().run()


def _provider_app() -> Any:
    from provider import create_app, logs

    logs.configure()  # LOG_FORMAT=json: one JSON object per line, each with its request_id

    # Web workers never migrate; the schema is `provider db upgrade`'s job.
    return create_app({"PROVIDER_MIGRATIONS": False})


def _metrics_dir() -> None:
    """Per-process metric files for /metrics, in a directory set before any worker starts.

    A directory given in PROMETHEUS_MULTIPROC_DIR is used as it is (the sandbox
    prepares one that its dispatcher shares); otherwise var/prometheus is
    emptied and used.
    """
    # prometheus_client reads the variable when first imported: set it before anything imports it.
    if os.environ.get(MULTIPROC_ENV):
        os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)
        return
    path = os.path.join(os.path.abspath(os.environ.get("PROVIDER_VAR_DIR", "var")), "prometheus")
    prepare_multiprocess_dir(path)
    os.environ[MULTIPROC_ENV] = path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="provider serve", description=__doc__)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    _metrics_dir()
    run_gunicorn(_provider_app, gunicorn_options(args.port or default_port(), args.workers, args.threads))


if __name__ == "__main__":
    main()
