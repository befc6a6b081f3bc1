"""Dispatchers as real processes and in parallel: kill -9, restarts, two at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from provider.cli import main as provider_cli
from provider.dispatcher import Dispatcher
from provider.extensions import db
from provider.models.webhook import DELIVERED, Webhook, WebhookDelivery
from tests.provider.webhooks.conftest import FAST
from tests.provider.webhooks.receiver import Reply


def _env(app, tmp_path, **extra):
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "PROVIDER_VAR_DIR": str(tmp_path),
        "DISPATCHER_IDLE_SECONDS": "0.05",
        "PROVIDER_ENV": "sandbox",  # `provider dispatcher` defaults to production rules
        **extra,
    }


def _statuses(webhook_id):
    db.session.expire_all()
    db.session.commit()
    return [
        d.status
        for d in db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    ]


def _wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _start(env):
    return subprocess.Popen([sys.executable, "-m", "provider.cli", "dispatcher"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_a_dispatcher_killed_mid_delivery_loses_nothing(app, receiver, make_webhook, emit, tmp_path):
    release = threading.Event()
    first = {"seen": False}

    def respond(got):
        if not first["seen"]:
            first["seen"] = True
            release.wait(30)  # hold the first delivery open until the dispatcher is dead
            return Reply(200)
        return Reply(200)

    receiver.respond = respond
    hook, _ = make_webhook(receiver.url)
    events = [emit(device_id=f"lock-{i % 2}").event_id for i in range(6)]
    env = _env(app, tmp_path, DISPATCHER_NAME="dispatcher-1", WEBHOOK_TIMEOUT_SECONDS="20")

    victim = _start(env)
    try:
        assert _wait_for(lambda: first["seen"]), "the first delivery never arrived"
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        release.set()
        if victim.poll() is None:
            victim.kill()
    assert _statuses(hook.id).count(DELIVERED) < 6  # the held one was in flight when it died

    survivor = _start(env)  # same name: takes its dead self's leases back at once
    try:
        assert _wait_for(lambda: _statuses(hook.id).count(DELIVERED) == 6), survivor.stderr
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(15) == 0
    finally:
        if survivor.poll() is None:
            survivor.kill()
    assert set(receiver.event_ids()) == set(events)
    # Per device, the last arrival of each event precedes the first arrival of the next one's successor.
    by_device = defaultdict(list)
    for payload in receiver.payloads():
        by_device[payload["device_id"]].append(payload["sequence"])
    for sequences in by_device.values():
        assert sorted(set(sequences)) == sorted(dict.fromkeys(sequences))
        firsts = list(dict.fromkeys(sequences))
        assert firsts == sorted(firsts)


def test_two_dispatchers_deliver_each_event_exactly_once_in_device_order(app, receiver, make_webhook, emit):
    receiver.respond = lambda got: Reply(200, delay=0.002 * (hash(got.body) % 3))
    hooks = [make_webhook(f"{receiver.url}/{i}")[0] for i in range(2)]
    events = [emit(device_id=f"lock-{i % 10}").event_id for i in range(60)]
    # A fault-free run: a timeout long enough that a slow CI machine never trips it.
    settings = replace(FAST, timeout=30.0, lease=60.0)
    workers = [Dispatcher(app, settings=settings, name=f"w{i}", sweep=lambda: None) for i in range(2)]
    errors = []

    def work(worker):
        try:
            idle = 0
            while idle < 3:
                idle = 0 if worker.run_once() else idle + 1
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for worker in workers:
        worker.close()
    assert not errors
    for hook in hooks:
        errors = [d.last_error for d in db.session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == hook.id, WebhookDelivery.status != DELIVERED))]
        assert _statuses(hook.id).count(DELIVERED) == len(events), errors
    ids = receiver.event_ids()
    assert sorted(ids) == sorted(events * 2)  # exactly once per webhook
    per_device = defaultdict(list)
    for got in receiver.received:
        payload = got.json
        per_device[(got.path, payload["device_id"])].append(payload["sequence"])
    for payload_device, sequences in per_device.items():
        assert sequences == sorted(sequences), payload_device


def test_cli_registers_lists_and_rotates(app, emit):
    runner = CliRunner()
    result = runner.invoke(
        provider_cli, ["webhooks", "create", "--url", "http://127.0.0.1:9/hook", "--event", "device.offline"]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.strip().splitlines())
    assert lines["secret"].startswith("whsec_")
    webhook = db.session.get(Webhook, lines["webhook_id"])
    assert webhook.event_types == ["device.offline"] and webhook.client_id is None

    result = runner.invoke(provider_cli, ["webhooks", "create", "--url", "http://example.com/x"])
    assert result.exit_code != 0 and "https" in result.output

    listed = runner.invoke(provider_cli, ["webhooks", "list"])
    assert lines["webhook_id"] in listed.output and "active" in listed.output

    rotated = runner.invoke(provider_cli, ["webhooks", "rotate-secret", lines["webhook_id"], "--grace", "60"])
    assert rotated.exit_code == 0 and rotated.output.startswith("secret: whsec_")
    assert rotated.output.strip() != f"secret: {lines['secret']}"
    assert runner.invoke(provider_cli, ["webhooks", "delete", lines["webhook_id"]]).exit_code == 0
