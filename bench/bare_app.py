"""The ceiling: a bare Flask app that `jsonify`s a constant, served exactly like `provider serve`.

`GET /locks` returns a body of the same shape and size as the provider's answer
for an owner with 10 locks, so the ratio measures what the provider adds
(auth, database, serialisation), not JSON volume.

    python -m bench.bare_app --port 8090 [--workers 2 --threads 16]
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify


def _lock(index: int) -> dict[str, object]:
    lock_id = f"00000000-0000-4000-8000-{index:012d}"
    return {
        "lock_id": lock_id, "device_id": lock_id, "name": f"Door {index}", "model": "HALO-01",
        "device_model": "HALO-01", "device_type": "smart_lock", "online": True,
        "battery_level": 87, "signal_quality": "good", "lock_state": "locked",
        "door_state": "closed", "timezone": "America/Los_Angeles", "location": None,
        "address": "1 Main St", "bridge_id": "00000000-0000-4000-8000-00000000b001",
        "device_time": "2026-11-25T12:00:00Z", "updated_at": "2026-11-25T12:00:00Z",
    }


LOCKS = [_lock(i) for i in range(10)]


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify(ok=True)

    @app.get("/locks")
    def locks():  # type: ignore[no-untyped-def]
        return jsonify(locks=LOCKS)

    return app


def main() -> None:
    from provider.web_server import gunicorn_options, run_gunicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    run_gunicorn(create_app, gunicorn_options(args.port, args.workers, args.threads))


if __name__ == "__main__":
    main()
