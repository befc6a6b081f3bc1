"""`provider sandbox`'s bridge agents: derived tokens, processes, the newcomer's instructions."""

from __future__ import annotations

import sys
import time

from provider.cli.serve import sandbox_processes, supervise
from provider.extensions import db
from provider.models import Bridge
from provider.services import bridges
from provider.services.sandbox import (
    SANDBOX_BRIDGE_NAME,
    describe_sandbox,
    sandbox_bridge_token,
    sandbox_bridge_tokens,
    seed_sandbox,
)


def test_seeded_bridges_rekeyed_to_tokens_derived_from_the_secret(app):
    seed_sandbox()
    other, other_token = bridges.create_bridge(
        db.session.scalars(db.select(Bridge.owner_id)).first(), "Hall bridge")
    db.session.commit()

    tokens = sandbox_bridge_tokens("secret-one")
    assert len(tokens) == 2  # jane's and john's
    for bridge_id, token in tokens:
        assert token == sandbox_bridge_token("secret-one", bridge_id)
        assert bridges.authenticate(token).id == bridge_id
        assert token not in {b.token_hash for b in db.session.scalars(db.select(Bridge))}
    assert sandbox_bridge_tokens("secret-one") == tokens  # stable across restarts
    # Another SECRET_KEY, other tokens; the old ones stop working.
    rotated = sandbox_bridge_tokens("secret-two")
    assert {t for _, t in rotated}.isdisjoint({t for _, t in tokens})
    assert bridges.authenticate(tokens[0][1]) is None
    # A bridge the vendor registered by hand keeps its own token.
    assert bridges.authenticate(other_token).id == other.id
    assert other.name != SANDBOX_BRIDGE_NAME


def test_one_agent_per_bridge_token_in_the_environment_only(app):
    processes = sandbox_processes(8080, [("b1", "brg_one"), ("b2", "brg_two")], "/devicecloud", "/srv/var")
    names = [spec[0] for spec in processes]
    assert names[:2] == ["web", "dispatcher"] and names[-2:] == ["bridge", "bridge2"]
    for spec, (bridge_id, token) in zip(processes[-2:], [("b1", "brg_one"), ("b2", "brg_two")], strict=True):
        _, argv, env = spec
        assert token not in " ".join(argv)
        assert env["FIRMWARE_BRIDGE_TOKEN"] == token
        assert "http://127.0.0.1:8080/devicecloud" in argv
        assert f"/srv/var/bridge/{bridge_id}" in argv
        assert argv[argv.index("--backend") + 1] == "virtual"


def test_describe_tells_how_to_type_a_pin(app):
    seed_sandbox()
    text = describe_sandbox("http://127.0.0.1:8080")
    assert "firmware-bridge keypad --lock 'Back Door' 482913" in text  # a name only one lock has
    assert "john@example.com: Front Door" in text
    assert "Ctrl-C" in text


def test_web_runs_one_worker_when_wakeups_cannot_cross_processes(app, monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    alone = dict((spec[0], spec) for spec in sandbox_processes(8080, wakeups_cross_processes=False))
    shared = dict((spec[0], spec) for spec in sandbox_processes(8080, wakeups_cross_processes=True))
    assert alone["web"][2] == {"WEB_CONCURRENCY": "1"}
    assert "WEB_CONCURRENCY" not in shared["web"][2]


def test_a_dead_dispatcher_is_restarted_and_the_sandbox_goes_on(tmp_path):
    starts = tmp_path / "starts"
    dies_once = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(starts)!r})\n"
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        "sys.exit(1) if p.read_text() == 'x' else time.sleep(60)\n"
    )
    web = ("web", [sys.executable, "-c", "import time; time.sleep(60)"])
    dispatcher = ("dispatcher", [sys.executable, "-c", dies_once])
    deadline = time.monotonic() + 60

    def restarted() -> bool:
        return (starts.exists() and starts.read_text() == "xx") or time.monotonic() > deadline

    assert supervise([web, dispatcher], should_stop=restarted, poll=0.05) == 0
    assert starts.read_text() == "xx"


def test_agents_poll_the_bridge_api_server_not_the_web_server(app):
    processes = {spec[0]: spec for spec in sandbox_processes(8080, [("b1", "brg_one")], "/dc", bridge_port=8099)}
    assert processes["bridge-api"][1][-3:] == ["bridge-api", "--port", "8099"]
    agent_argv = processes["bridge"][1]
    assert agent_argv[agent_argv.index("--provider-url") + 1] == "http://127.0.0.1:8099/dc"


def test_a_gateway_runs_when_mqtt_is_configured(app):
    names = [spec[0] for spec in sandbox_processes(8080, [("b1", "brg_one")], bridge_port=8099, mqtt=True)]
    assert "gateway" in names
    assert "gateway" not in [spec[0] for spec in sandbox_processes(8080, [("b1", "brg_one")], bridge_port=8099)]
