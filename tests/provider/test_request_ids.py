"""A request id follows a command: from the API call that queued it to the bridge's result."""

from __future__ import annotations

import json
import logging

from provider.extensions import db
from provider.logs import JsonFormatter, RequestIdFilter
from provider.models import Command
from tests.provider.devices.conftest import make_site


def test_response_carries_the_callers_request_id(client):
    response = client.get("/health", headers={"X-Request-Id": "seam-req-12345678"})
    assert response.headers["X-Request-Id"] == "seam-req-12345678"


def test_an_insane_request_id_is_replaced(client):
    response = client.get("/health", headers={"X-Request-Id": "x" * 200})
    assert len(response.headers["X-Request-Id"]) == 32


def test_the_bridges_result_is_logged_with_the_api_calls_request_id(app, client, account, auth_headers, caplog):
    site = make_site(app, account)
    lock = site.locks[0]
    response = client.post(f"/locks/{lock.id}/actions", json={"action": "unlock"},
                           headers={**auth_headers, "X-Request-Id": "seam-unlock-0001"})
    assert response.status_code == 200
    command = db.session.query(Command).one()
    assert command.request_id == "seam-unlock-0001"
    with caplog.at_level(logging.INFO, logger="provider.services.commands"):
        handed = site.helper.run()
    # The bridge is handed the id with the command (its agent logs it with every line about it).
    assert [(c["command_id"], c["request_id"]) for c in handed] == [(command.id, "seam-unlock-0001")]
    finished = [r for r in caplog.records if getattr(r, "origin_request_id", None) == "seam-unlock-0001"]
    assert finished and "succeeded" in finished[0].getMessage()
    assert finished[0].command_id == command.id


def test_json_log_line_has_request_id_and_extra_fields():
    record = logging.makeLogRecord({"name": "provider.x", "levelname": "INFO", "msg": "lock %s: ok",
                                    "args": ("L1",), "command_id": "C1", "request_id": "R1"})
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "lock L1: ok"
    assert (line["request_id"], line["command_id"], line["level"]) == ("R1", "C1", "info")
