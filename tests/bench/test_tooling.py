"""The benchmark harness's own logic: percentiles, verdicts, the report, the wrk script."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.common import percentile, row, wrk
from bench.report import format_table, markdown_table, verdict


@pytest.mark.parametrize(
    ("samples", "pct", "expected"),
    [([1, 2, 3, 4], 50, 2), (list(range(1, 101)), 99, 99), (list(range(1, 101)), 100, 100), ([7], 99, 7)],
)
def test_percentile_is_nearest_rank(samples, pct, expected):
    assert percentile(samples, pct) == expected


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [(20, "<= 25", "met"), (26, "<= 25", "MISSED"), (0.4, ">= 0.5", "MISSED"), (0, "== 0", "met"),
     (None, "<= 25", ""), ("text", "<= 25", ""), (5, None, "")],
)
def test_verdict(value, target, expected):
    assert verdict(row("b", "m", value, "ms", target)) == expected


def test_tables_show_values_targets_and_verdicts():
    rows = [row("api", "p99", 30.0, "ms", "<= 25", note="busy"), row("api", "skipped", None, note="why")]
    table = format_table(rows)
    assert "MISSED" in table and "<= 25 ms" in table and "why" in table
    md = markdown_table(rows)
    assert md.count("\n") == 3 and "| p99 | 30.00 | ms | <= 25 ms | MISSED | busy |" in md


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes]] = []

    def _answer(self, status: int) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        _Handler.seen.append((self.command, self.path, self.rfile.read(length)))
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self):
        self._answer(200 if self.headers.get("Authorization") == "Bearer t" else 401)

    def do_POST(self):
        self._answer(201 if self.path == "/a" else 409)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (make bench installs it)")
def test_wrk_script_cycles_paths_makes_unique_pins_and_counts_statuses():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _Handler.seen.clear()
        got = wrk(url + "/a", duration=1, connections=2, method="POST", paths=["/a", "/b"],
                  body=json.dumps({"code": "{pin}", "n": "{n}"}))
        posts = [json.loads(body) for method, _, body in _Handler.seen if method == "POST"]
        pins = [p["code"] for p in posts]
        assert len(pins) == len(set(pins)) and all(len(p) == 8 and p.isdigit() for p in pins)
        assert {path for _, path, _ in _Handler.seen} == {"/a", "/b"}
        assert got.requests > 0 and got.statuses.get("409", 0) > 0 and "201" not in got.statuses
        unauthorised = wrk(url + "/x", duration=1, connections=1, headers={"Authorization": "Bearer t"})
        assert unauthorised.non_2xx == 0 and unauthorised.p50_ms > 0
    finally:
        server.shutdown()
        server.server_close()
