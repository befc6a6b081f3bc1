"""Drives the bridge API the way a bridge agent does: real HTTP calls through the app, no mocks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BridgeHelper:
    client: Any
    token: str
    executed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.client.open(f"/bridge/v1{path}", method=method, headers=self.headers, **kwargs)
        assert response.status_code == expect, (response.status_code, response.get_json())
        return response.get_json()

    def locks(self) -> dict[str, Any]:
        return self._call("GET", "/locks")

    def poll(self, wait: float = 0, limit: int = 10, resume: bool = False) -> list[dict[str, Any]]:
        resume_param = "&resume=true" if resume else ""
        return self._call("GET", f"/commands?wait={wait}&limit={limit}{resume_param}")["commands"]

    def result(self, command_id: str, status: str = "succeeded", error_code: str | None = None,
               message: str | None = None, expect: int = 200) -> dict[str, Any]:
        body = {"status": status, "error_code": error_code, "message": message}
        return self._call("POST", f"/commands/{command_id}/result", expect=expect, json=body)

    def events(self, *events: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/events", json={"events": list(events)})

    def heartbeat(self, *locks: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/heartbeat", json={"locks": list(locks)})

    def all_online(self, lock_ids: list[str], **status: Any) -> dict[str, Any]:
        return self.heartbeat(*({"lock_id": lock_id, "online": True, **status} for lock_id in lock_ids))

    def desired_codes(self, lock_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/locks/{lock_id}/access_codes")["access_codes"]

    def code_table(self, lock_id: str) -> dict[str, Any]:
        """The whole answer: `access_codes` to put, `remove` (the only slots it may clear)."""
        return self._call("GET", f"/locks/{lock_id}/access_codes")

    def code_sync(self, lock_id: str, present: list[str], **extra: Any) -> dict[str, Any]:
        return self._call("POST", f"/locks/{lock_id}/code_sync", json={"present": present, **extra})

    def run(self, outcome: dict[str, tuple[str, str | None]] | None = None) -> list[dict[str, Any]]:
        """Executes every due command: succeeded, unless `outcome[type]` says (status, error_code)."""
        done = []
        for command in self.poll():
            status, error_code = (outcome or {}).get(command["type"], ("succeeded", None))
            self.result(command["command_id"], status, error_code)
            self.executed.append(command)
            done.append(command)
        return done


class BackgroundBridge:
    """A bridge serving in a thread (for the legacy calls that wait for the lock)."""

    def __init__(self, app: Any, token: str, outcome: dict[str, tuple[str, str | None]] | None = None):
        self.app = app
        self.token = token
        self.outcome = outcome
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.handled: list[dict[str, Any]] = []

    def _serve(self) -> None:
        with self.app.app_context():
            helper = BridgeHelper(self.app.test_client(), self.token)
            while not self.stop.is_set():
                for command in helper.poll(wait=0.5):
                    status, error_code = (self.outcome or {}).get(command["type"], ("succeeded", None))
                    helper.result(command["command_id"], status, error_code)
                    self.handled.append(command)

    def __enter__(self) -> BackgroundBridge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
